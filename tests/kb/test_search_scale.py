"""What keeps search accurate and fast on a big KB: the vector leg's hnsw.ef_search follows the KB's size
(kb.search.vector.ef_for: a wider beam for a big KB, the configured one for the rest, a caller's value as given),
and the per-search read of disabled documents goes through its partial index, not the KB's every document."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kb.search import chunk_search, stats, vector
from tests.kb.test_search import add_chunks, paragraphs, vectors


@pytest.fixture
def scaling(settings):
    settings.SEARCH_EF_SEARCH = 400
    settings.SEARCH_EF_SEARCH_MAX = 1000
    settings.SEARCH_EF_SCALE_CHUNKS = 100_000


def test_ef_is_the_configured_one_up_to_the_scale_and_grows_with_the_log_of_the_size(scaling):
    assert vector.ef_for(0) == 400
    assert vector.ef_for(100_000) == 400
    assert vector.ef_for(316_228) == 700  # half a decade: half the way
    assert vector.ef_for(1_000_000) == 1000
    assert vector.ef_for(50_000_000) == 1000  # capped


def test_max_at_or_below_the_configured_ef_turns_the_scaling_off(scaling, settings):
    settings.SEARCH_EF_SEARCH_MAX = 400
    assert vector.ef_for(1_000_000) == 400
    settings.SEARCH_EF_SEARCH_MAX = 100  # never below SEARCH_EF_SEARCH
    assert vector.ef_for(1_000_000) == 400


def _ef_set_by(kb, **options) -> str:
    with CaptureQueriesContext(connection) as captured:
        results = chunk_search(kb=kb, query=paragraphs(30)[3], mode="vector", top_k=5, **options)
    assert results, "the search found nothing"
    config = next(q["sql"] for q in captured if "set_config('hnsw.ef_search'" in q["sql"])
    return config.split("set_config('hnsw.ef_search', '")[1].split("'")[0]


def test_a_search_sets_the_ef_of_its_kbs_size(make_kb, settings, scaling):
    """Scaled down so a test-sized KB is "big": 30 chunks against a scale of 3 is ten times it."""
    settings.SEARCH_RESULT_CACHE_SECONDS = 0
    settings.SEARCH_TERM_STATS_SECONDS = 0  # the KB's size as it is now
    kb = make_kb(name="ef")
    add_chunks(kb, list(paragraphs(30)), vectors()[:30])
    settings.SEARCH_EF_SCALE_CHUNKS = 3
    assert _ef_set_by(kb) == "1000"
    settings.SEARCH_EF_SCALE_CHUNKS = 30
    assert _ef_set_by(kb) == "400"
    settings.SEARCH_EF_SCALE_CHUNKS = 3
    assert _ef_set_by(kb, ef_search=123) == "123"  # a caller's ef_search is taken as given


def test_the_size_is_read_once_per_stats_period(make_kb, settings, scaling):
    settings.SEARCH_TERM_STATS_SECONDS = 3600
    stats.clear()
    kb = make_kb(name="ef-cached")
    add_chunks(kb, list(paragraphs(10)), vectors()[:10])
    assert stats.kb_rows(kb.pk) == 10
    add_chunks(kb, list(paragraphs(20))[10:], vectors()[10:20], name="more")
    assert stats.kb_rows(kb.pk) == 10  # the estimate this process read
    stats.clear()
    assert stats.kb_rows(kb.pk) == 20


def test_the_disabled_documents_read_uses_its_partial_index(make_kb):
    """kb.search.filters.serving runs this read before every search; the partial index document_disabled_by_kb
    (kb migration 0013) must serve it. (Sequential scans are off so a test-sized table shows the planner's choice
    between the indexes, as a big table makes it.)"""
    from kb.search import filters

    kb = make_kb(name="disabled")
    add_chunks(kb, list(paragraphs(3)), vectors()[:3])
    with CaptureQueriesContext(connection) as captured:
        filters.serving(kb)
    sql = next(q["sql"] for q in captured if "NOT enabled" in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql)
        plan = " ".join(row[0] for row in cursor.fetchall())
    assert "document_disabled_by_kb" in plan, plan


def test_chunk_vectors_stay_in_the_row_when_the_row_is_toasted(make_kb):
    """kb migration 0014: a chunk row of ~1,000 characters of text is over the 2 KB TOAST threshold; its vector
    must stay in the row (an exact distance then needs no TOAST fetch) and the text go out of line instead."""
    kb = make_kb(name="toast")
    long_text = " ".join(paragraphs(40))[:1500]
    add_chunks(kb, [long_text], vectors()[:1])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, attstorage FROM pg_attribute WHERE attrelid = 'kb_chunk'::regclass"
            " AND attname IN ('embedding', 'embedding_768')"
        )
        assert dict(cursor.fetchall()) == {"embedding": "p", "embedding_768": "p"}
        cursor.execute(
            "SELECT pg_column_toast_chunk_id(embedding) IS NULL, pg_column_size(c.*) FROM kb_chunk c WHERE kb_id = %s",
            [str(kb.pk)],
        )
        inline, row_size = cursor.fetchone()
    assert inline
    assert row_size < 8160  # fits a page, as PLAIN needs
