"""Page evidence in the keyword leg (SEARCH_KEYWORD_DOCUMENT_WEIGHT): a chunk also scores its document's terms."""

from __future__ import annotations

import pytest

from kb.search import chunk_search
from tests.kb.test_search import REAL, add_chunks, analyze, paragraphs, vectors


@pytest.fixture
def no_query_cache(settings):
    settings.EMBEDDING_CACHE_TTL = 0


def test_a_chunk_whose_page_covers_the_other_terms_ranks_first(make_kb, settings, no_query_cache):
    kb = make_kb(name="evidence")
    filler = [t for t in paragraphs(REAL) if "lantern" not in t.lower() and "cupboard" not in t.lower()][:20]
    vecs = vectors()[:4]
    # "spread" has both query words, on two chunks; "single" has only one, and is stored first (lower chunk id)
    single = add_chunks(kb, ["The storm lantern hangs by the door."], vecs[:1], name="single")
    spread = add_chunks(
        kb, ["The storm lantern is kept dry.", "The cedar cupboard holds the spare wicks."], vecs[1:3], name="spread"
    )
    add_chunks(kb, filler, vectors()[4 : 4 + len(filler)], name="filler")
    analyze()

    settings.SEARCH_KEYWORD_RANKING = "idf"  # page evidence is a term of the idf ranking

    def top(weight: float):
        settings.SEARCH_KEYWORD_DOCUMENT_WEIGHT = weight
        return chunk_search(kb=kb, query="lantern cupboard", mode="keyword", top_k=5)

    off = top(0.0)
    lantern_chunks = {r.document_id: r.keyword_score for r in off if "lantern" in r.content}
    assert lantern_chunks[str(single.pk)] == pytest.approx(lantern_chunks[str(spread.pk)])  # a tie on own terms
    on = top(1.0)
    assert on[0].document_id == str(spread.pk)
    lantern_on = {r.document_id: r.keyword_score for r in on if "lantern" in r.content}
    assert lantern_on[str(spread.pk)] > lantern_on[str(single.pk)]  # its page also says "cupboard"
    # "single"'s page has nothing more: its score is its own, doubled by its own best per-term scores
    assert lantern_on[str(single.pk)] == pytest.approx(2 * lantern_chunks[str(single.pk)])
