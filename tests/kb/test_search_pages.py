"""Page evidence (kb.search.pages): BM25 over whole documents for term-like hybrid queries, on the real PostgreSQL,
and its fusion into the chunk list (kb.search.fusion.with_pages)."""

from __future__ import annotations

import math

import pytest

from kb.search import chunk_search, fusion, keyword
from tests.kb.test_search import REAL, add_chunks, analyze, paragraphs, vectors

WORDS = ("lantern", "ledger")


@pytest.fixture
def quiet(settings):
    settings.EMBEDDING_CACHE_TTL = 0
    settings.SEARCH_RESULT_CACHE_SECONDS = 0
    settings.SEARCH_TERM_STATS_SECONDS = 0  # this test's documents, not an earlier test's statistics


@pytest.fixture
def filler():
    return [t for t in paragraphs(REAL) if not any(w in t.lower() for w in WORDS)]


@pytest.fixture
def manual(make_kb, filler):
    """A KB of three pages: "Lighting" says "lantern" in each of its 4 sections (long ones), "Notes" once in one
    short chunk, "Accounts" never (it keeps the ledger)."""
    kb = make_kb(name="pages")
    vecs = vectors()
    lighting = [f"{filler[i]} Each lantern is checked." for i in range(4)]
    add_chunks(kb, lighting, vecs[:4], name="Lighting")
    add_chunks(kb, ["The lantern hangs by the door.", filler[4]], vecs[4:6], name="Notes")
    add_chunks(kb, [f"The ledger of week {n} was closed. {filler[10 + n]}" for n in range(3)], vecs[6:9],
               name="Accounts")  # fmt: skip
    analyze()
    return kb


def page_leg(kb, query: str):
    return keyword.search(kb_id=kb.pk, language=kb.language, query=query, limit=40, where="", params=[], page_limit=40)


def test_a_page_scores_its_terms_summed_over_its_chunks(manual, settings, quiet):
    """With b = 0: score = idf * tf * (k1 + 1) / (tf + k1), tf the term's occurrences over the page's chunks (each
    chunk's bm25 tf: one body occurrence is 1), idf = ln(1 + (N - df + 0.5) / (df + 0.5)) over the KB's pages."""
    settings.SEARCH_PAGE_BM25_B = 0.0
    leg = page_leg(manual, "lantern")
    names = {str(pk): name for pk, name in manual.documents.values_list("id", "name")}
    ranked = {names[doc]: (rank, score) for doc, (rank, score, _) in leg.pages.items()}
    assert set(ranked) == {"Lighting", "Notes"}  # the ledger page does not say it
    k1, idf = 1.2, math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))
    assert ranked["Lighting"][1] == pytest.approx(idf * 4 * (k1 + 1) / (4 + k1), rel=1e-3)
    assert ranked["Notes"][1] == pytest.approx(idf * 1 * (k1 + 1) / (1 + k1), rel=1e-3)
    assert ranked["Lighting"][0] == 1
    # each page's best chunk is one of its own matching chunks
    for doc, (_, _, best) in leg.pages.items():
        assert leg.documents[best] == doc and best in leg.hits


def test_page_length_normalises_with_the_stored_token_counts(manual, settings, quiet):
    settings.SEARCH_PAGE_BM25_B = 0.0
    flat = {doc: score for doc, (_, score, _) in page_leg(manual, "lantern").pages.items()}
    settings.SEARCH_PAGE_BM25_B = 1.0
    scaled = {doc: score for doc, (_, score, _) in page_leg(manual, "lantern").pages.items()}
    lighting = str(manual.documents.get(name="Lighting").pk)
    notes = str(manual.documents.get(name="Notes").pk)
    # Lighting is the longer page (4 long chunks against 2): normalising lowers it and raises the short one
    assert scaled[lighting] < flat[lighting] and scaled[notes] > flat[notes]


def test_a_term_like_hybrid_query_carries_page_evidence_and_a_question_does_not(manual, settings, quiet):
    results = chunk_search(kb=manual, query="lantern", mode="hybrid", top_k=10)
    assert results[0].document_name == "Lighting"  # the page about lanterns, though its chunks are long
    with_pages = [r for r in results if r.page_rank is not None]
    assert {r.document_name for r in with_pages} == {"Lighting", "Notes"}
    assert next(r for r in with_pages if r.document_name == "Lighting").page_rank == 1
    off = chunk_search(kb=manual, query="lantern", mode="hybrid", top_k=10, page_weight=0.0)
    assert all(r.page_rank is None for r in off)
    assert off[0].document_name == "Notes"  # without it, the short chunk that says it once leads
    question = chunk_search(kb=manual, query="where does the lantern hang?", mode="hybrid", top_k=10)
    assert question and all(r.page_rank is None for r in question)
    settings.SEARCH_PAGE_WEIGHT = 0.5  # questions too, when configured
    question = chunk_search(kb=manual, query="where does the lantern hang?", mode="hybrid", top_k=10)
    assert {r.document_name for r in question if r.page_rank is not None} == {"Lighting", "Notes"}
    keyword_only = chunk_search(kb=manual, query="lantern", mode="keyword", top_k=10)
    assert all(r.page_rank is None for r in keyword_only)  # each single mode stays its own leg


def test_page_evidence_stays_inside_the_kb_and_its_filters(manual, make_kb, filler, quiet):
    other = make_kb(name="pages-other")
    add_chunks(other, [f"Lantern {n}: the lantern list." for n in range(6)], vectors()[20:26], name="Lanterns")
    analyze()
    notes = str(manual.documents.get(name="Notes").pk)
    results = chunk_search(kb=manual, query="lantern", mode="hybrid", top_k=20)
    assert {r.document_name for r in results} <= {"Lighting", "Notes", "Accounts"}
    only_notes = chunk_search(kb=manual, query="lantern", mode="hybrid", top_k=20, filters={"document_ids": [notes]})
    assert only_notes and {r.document_id for r in only_notes} == {notes}  # no best chunk of a filtered-out page


def test_bad_page_weight_is_a_search_error(manual, quiet):
    from kb.search import SearchError

    with pytest.raises(SearchError, match="page_weight"):
        chunk_search(kb=manual, query="lantern", mode="hybrid", page_weight=1.5)


# ---------------------------------------------------------------- fusion.with_pages (pure)


def test_only_the_best_candidate_of_a_page_gets_its_page_share():
    fused = {1: 0.9, 2: 0.8, 3: 0.1}
    document_of = {1: "a", 2: "a", 3: "b", 9: "c"}
    pages = {"b": (1, 5.0, 3), "a": (2, 1.0, 2), "c": (3, 0.5, 9)}
    out = fusion.with_pages(fused, pages, document_of, share=0.5, method="rrf", k=30)
    assert out[1] == pytest.approx(0.9 + 0.5 * 2 / 32)  # page a's best candidate is chunk 1 (fused 0.9), not 2
    assert out[2] == pytest.approx(0.8)
    assert out[3] == pytest.approx(0.1 + 0.5 * 2 / 31)
    assert out[9] == pytest.approx(0.5 * 2 / 33)  # page c had no candidate: its best matching chunk joins
    assert fusion.with_pages(fused, pages, document_of, share=0.0, method="rrf", k=30) == fused
    assert fusion.with_pages(fused, {}, document_of, share=0.5, method="dbsf", k=30) == fused


def test_page_scores_are_normalised_like_a_leg():
    fused = {1: 0.0, 2: 0.0, 3: 0.0}
    document_of = {1: "a", 2: "b", 3: "c"}
    pages = {"a": (1, 9.0, 1), "b": (2, 3.0, 2), "c": (3, 3.0, 3)}
    dbsf = fusion.with_pages(fused, pages, document_of, share=1.0, method="dbsf", k=30)
    expected = fusion.distribution({"a": (1, 9.0), "b": (2, 3.0), "c": (3, 3.0)})
    assert dbsf == pytest.approx({1: expected["a"], 2: expected["b"], 3: expected["c"]})
    weighted = fusion.with_pages(fused, pages, document_of, share=1.0, method="weighted", k=30)
    assert weighted == pytest.approx({1: 1.0, 2: 1 / 3, 3: 1 / 3})
