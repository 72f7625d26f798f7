"""The keyword leg's BM25 ranking (kb.search.bm25, the default SEARCH_KEYWORD_RANKING) on the real PostgreSQL."""

from __future__ import annotations

import math

import pytest

from kb.search import chunk_search
from tests.kb.test_search import REAL, add_chunks, analyze, keyword_leg, paragraphs, vectors

FILLER_WORDS = ("lantern", "cupboard", "theme", "html", "ledger")


@pytest.fixture
def no_query_cache(settings):
    settings.EMBEDDING_CACHE_TTL = 0
    settings.SEARCH_RESULT_CACHE_SECONDS = 0
    settings.SEARCH_TERM_STATS_SECONDS = 0  # read the statistics of this test's ANALYZE, not an earlier test's


@pytest.fixture
def filler():
    """Real paragraphs that say none of the words these tests search for."""
    return [t for t in paragraphs(REAL) if not any(w in t.lower() for w in FILLER_WORDS)][:30]


def scores(kb, query: str) -> dict[str, float]:
    return {r.content: r.keyword_score for r in chunk_search(kb=kb, query=query, mode="keyword", top_k=20)}


def test_idf_is_the_kbs_own_document_frequency(make_kb, settings, filler, no_query_cache):
    """With b = 0 one body occurrence scores exactly idf = ln(1 + (N - df + 0.5) / (df + 0.5)), N and df this KB's
    chunks: a term in 2 of 33 chunks outscores one in 5, whatever other KBs in the table hold."""
    settings.SEARCH_KEYWORD_BM25_B = 0.0
    kb = make_kb(name="bm25-idf")
    rare = ["The storm lantern hangs by the door.", "A lantern was lit at dusk."]
    common = [f"The ledger of week {n} was closed." for n in range(5)]
    add_chunks(kb, rare + common + filler[:26], vectors()[:33], name="Notes")
    crowded = make_kb(name="bm25-other")  # another KB saying "lantern" everywhere must not change this KB's idf
    add_chunks(crowded, [f"Lantern number {n}." for n in range(40)], vectors()[:40], name="Lanterns")
    analyze()
    n = 33
    lantern, ledger = scores(kb, "lantern"), scores(kb, "ledger")
    assert set(lantern) == set(rare) and set(ledger) == set(common)
    for value in lantern.values():
        assert value == pytest.approx(math.log(1 + (n - 2 + 0.5) / (2 + 0.5)), rel=1e-4)
    for value in ledger.values():
        assert value == pytest.approx(math.log(1 + (n - 5 + 0.5) / (5 + 0.5)), rel=1e-4)
    # counting only terms the table holds in at most 0 rows: the table-wide statistics' estimate instead, which the
    # other KB's 40 lanterns inflate (lantern in 42 of 73 rows -> ~19 of this KB's 33: a lower idf)
    settings.SEARCH_KEYWORD_EXACT_DF_ROWS = 0
    estimated = scores(kb, "lantern")
    assert all(value < math.log(1 + (n - 2 + 0.5) / (2 + 0.5)) * 0.7 for value in estimated.values())


def test_shorter_chunks_and_more_occurrences_rank_higher_with_saturation(make_kb, settings, filler, no_query_cache):
    kb = make_kb(name="bm25-length")
    short = "The lantern is lit."
    long = "The lantern is lit. " + " ".join(filler[:3])  # the same one occurrence, many more words
    twice = "The lantern is lit; the lantern stays lit. " + " ".join(filler[:3])
    add_chunks(kb, [short, long, twice] + filler[3:20], vectors()[:20], name="Notes")
    analyze()
    on = scores(kb, "lantern")
    assert on[short] > on[long]  # length normalisation (default b = 0.3)
    assert on[twice] > on[long]  # a second occurrence counts ...
    assert on[twice] < 2 * on[long]  # ... less than the first (saturation)
    settings.SEARCH_KEYWORD_BM25_B = 0.0
    off = scores(kb, "lantern")
    assert off[short] == pytest.approx(off[long])  # without length normalisation: the same term frequency
    hits, ideal = keyword_leg(kb, "lantern")
    assert 0 < max(score for _, score in hits.values()) < ideal  # the ideal bounds every score


def test_the_context_line_counts_more_than_body_text(make_kb, settings, filler, no_query_cache):
    kb = make_kb(name="bm25-heading")
    text = "Kept dry, the lantern lasts for years."
    # both context lines add two lexemes to the chunk's length; only one of them names the term
    plain = add_chunks(kb, [text], vectors()[:1], name="Care and tips")
    titled = add_chunks(kb, [text], vectors()[1:2], name="Lantern care tips")
    add_chunks(kb, filler[:20], vectors()[2:22], name="Other")
    analyze()

    def by_document(weight: float) -> dict[str, float]:
        settings.SEARCH_KEYWORD_HEADING_WEIGHT = weight
        found = chunk_search(kb=kb, query="lantern", mode="keyword", top_k=5)
        return {r.document_id: r.keyword_score for r in found}

    on = by_document(0.4)
    assert on[str(titled.pk)] > on[str(plain.pk)]
    zero = by_document(0.0)  # context terms weigh nothing: the same body scores the same
    assert zero[str(titled.pk)] == pytest.approx(zero[str(plain.pk)], rel=1e-3)


def test_a_compound_word_ranks_the_chunks_that_say_it_first(make_kb, settings, filler, no_query_cache):
    """ "html_theme" is split into html + theme by PostgreSQL's parser; its phrase term puts the chunk naming the
    option above chunks that only say "theme" and "html", however often."""
    kb = make_kb(name="bm25-compound")
    exact = "Set html_theme in conf.py to choose the look of the pages. " + filler[0]
    loose = "A theme for HTML: the theme of HTML pages."  # both parts twice, never adjacent, in a short chunk
    add_chunks(kb, [exact, loose] + filler[2:20], vectors()[:20], name="Configuration")
    analyze()
    on = scores(kb, "html_theme")
    assert on[exact] > on[loose]
    settings.SEARCH_KEYWORD_PHRASE_WEIGHT = 0.0
    off = scores(kb, "html_theme")
    assert off[loose] > off[exact]  # without the phrase term the short chunk saying both parts twice wins


def test_names_inside_dotted_paths_are_found_by_their_parts(make_kb, filler, no_query_cache):
    """kb_keyword_text (kb migration 0012): PostgreSQL's parser reads a dotted path as one token; split, its parts
    are searchable, and a dotted query matches the path as a phrase of its parts."""
    kb = make_kb(name="bm25-dotted")
    builder = "The builder sphinx.builders.dirhtml.DirectoryHTMLBuilder writes one directory per page."
    docname = "Read env.docname to know which document is being processed."
    autodoc = "Enable sphinx.ext.autodoc in the extensions list. " + filler[0]
    loose = "The autodoc extension and the ext folder of sphinx. Sphinx ships autodoc."
    add_chunks(kb, [builder, docname, autodoc, loose] + filler[1:20], vectors()[:23], name="Reference")
    analyze()
    assert list(scores(kb, "DirectoryHTMLBuilder")) == [builder]
    assert list(scores(kb, "docname")) == [docname]
    dotted = scores(kb, "sphinx.ext.autodoc")
    assert dotted[autodoc] > dotted[loose]  # the phrase of its parts, not the parts anywhere
    from django.db import connection

    with connection.cursor() as cursor:  # the stored text is untouched: only its tokenisation splits the path
        cursor.execute("SELECT content FROM kb_chunk WHERE kb_id = %s AND content = %s", [str(kb.pk), builder])
        assert cursor.fetchone() == (builder,)
