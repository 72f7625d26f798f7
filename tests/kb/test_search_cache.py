"""The KB-level search result cache (kb.search.cache) and the content version it is keyed by (migration 0011).

Run outside a test transaction (transactional_db), as the doors run: the cache stores only what a search in its
own snapshot ranked, and each change below commits like a worker's or a service's would.
"""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest
import redis
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from kb import services
from kb.deletion import delete_documents
from kb.models import Document, KnowledgeBase
from kb.pipeline.store import replace_chunks
from kb.pipeline.types import ChunkData
from kb.search import cache, chunk_search
from kb.search.snapshot import content_version
from privexbot.metrics.definitions import SEARCH_RESULT_CACHE
from privexbot.redis import get_client
from tests.conftest import make_tenant
from tests.kb.test_search import add_chunks, paragraphs, vectors

pytestmark = pytest.mark.django_db(transaction=True)
MODEL = {"model": "all-MiniLM-L6-v2"}


@pytest.fixture
def cache_on(settings):
    settings.SEARCH_RESULT_CACHE_SECONDS = 600


@pytest.fixture
def texts():
    return list(paragraphs(40))


@pytest.fixture
def filled(make_kb, texts, cache_on):
    """A KB of two documents (20 real paragraphs each, real vectors)."""
    kb = make_kb(name="Cached", embedding_config=MODEL)
    first = add_chunks(kb, texts[:20], vectors()[:20], name="First")
    second = add_chunks(kb, texts[20:40], vectors()[20:40], name="Second")
    return kb, first, second


def count(outcome: str) -> float:
    return SEARCH_RESULT_CACHE.labels(outcome=outcome)._value.get()


def version(kb) -> int:
    return content_version(kb.pk)


def dicts(results) -> list[dict]:
    return [r.to_dict() for r in results]


def uncached(settings, **kwargs) -> list[dict]:
    previous = settings.SEARCH_RESULT_CACHE_SECONDS
    settings.SEARCH_RESULT_CACHE_SECONDS = 0
    try:
        return dicts(chunk_search(**kwargs))
    finally:
        settings.SEARCH_RESULT_CACHE_SECONDS = previous


def leg_statements(captured) -> list[str]:
    """The statements only the legs run: the vector scan (its hnsw settings, the ::vector literal) and the
    keyword leg (tsquery / tsvector)."""
    markers = ("::vector", "hnsw.", "tsquery", "tsvector")
    return [q["sql"] for q in captured.captured_queries if any(m in q["sql"] for m in markers)]


def query_of(texts, index: int) -> str:
    return " ".join(texts[index].split()[:7])


@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
def test_a_repeated_query_is_answered_from_the_cache_without_running_the_legs(filled, texts, mode, settings):
    kb, _, _ = filled
    query = query_of(texts, 3)
    misses, hits = count("miss"), count("hit")
    with CaptureQueriesContext(connection) as first:
        missed = chunk_search(kb=kb, query=query, mode=mode, top_k=5)
    assert count("miss") == misses + 1 and count("hit") == hits
    assert leg_statements(first)  # the miss ran the legs

    with CaptureQueriesContext(connection) as second:
        hit = chunk_search(kb=kb, query=f"  {query}  ", mode=mode, top_k=5)  # whitespace does not matter
    assert count("hit") == hits + 1 and count("miss") == misses + 1
    assert leg_statements(second) == []  # no vector scan, no full-text query: a lookup and a hydration
    assert len(second.captured_queries) < len(first.captured_queries)
    assert missed and dicts(hit) == dicts(missed)  # exactly the same results, scores and leg ranks included
    assert dicts(hit) == uncached(settings, kb=kb, query=query, mode=mode, top_k=5)
    assert texts[3] in [r.content for r in hit]


def test_redis_holds_ids_and_scores_only_and_never_the_query(filled, texts):
    kb, _, _ = filled
    query = query_of(texts, 5)
    results = chunk_search(kb=kb, query=query, mode="hybrid", top_k=5)
    keys = list(get_client().scan_iter(match=cache.scope_pattern(kb.pk)))
    assert len(keys) == 1
    value = get_client().get(keys[0]).decode()
    assert query.split()[0] not in keys[0].decode() and query not in value
    for result in results:
        assert result.content[:30] not in value and result.document_name not in value
        assert str(result.chunk_id) in value


def test_each_change_to_the_kb_misses_and_serves_the_new_state(filled, texts, owner, settings):
    kb, first, second = filled
    query = query_of(texts, 24)  # a paragraph of the second document

    def searched_after(change) -> list[dict]:
        chunk_search(kb=kb, query=query, mode="hybrid", top_k=5)  # cached (or a hit of the state before)
        before, misses = version(kb), count("miss")
        change()
        assert version(kb) > before, change.__name__
        found = dicts(chunk_search(kb=kb, query=query, mode="hybrid", top_k=5))
        assert count("miss") == misses + 1, change.__name__  # not answered from the entry of the old state
        assert found == uncached(settings, kb=kb, query=query, mode="hybrid", top_k=5), change.__name__
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM kb_content_mark")
            assert cursor.fetchone()[0] == 0  # no mark outlives its transaction
        return found

    def document_added():
        add_chunks(kb, [texts[24]], vectors()[24:25], name="Copy")

    assert "Copy" in {r["document_name"] for r in searched_after(document_added)}

    def document_disabled():
        services.documents_set_enabled(kb=kb, document_ids=[second.pk], enabled=False, user=owner)

    assert str(second.pk) not in {r["document_id"] for r in searched_after(document_disabled)}

    def document_enabled():
        services.documents_set_enabled(kb=kb, document_ids=[second.pk], enabled=True, user=owner)

    assert str(second.pk) in {r["document_id"] for r in searched_after(document_enabled)}

    def chunks_replaced():  # a reprocess stores the document's new chunks in one transaction
        chunks = [ChunkData(index=0, content=texts[39], token_count=9, word_count=9, char_count=len(texts[39]))]
        with transaction.atomic():
            replace_chunks(
                document_id=second.pk, kb_id=kb.pk, language=kb.language, version=2, chunks=chunks,
                vectors=np.asarray(vectors()[39:40]),
            )  # fmt: skip

    assert texts[24] not in {r["content"] for r in searched_after(chunks_replaced) if r["document_name"] == "Second"}

    def document_deleted():
        delete_documents(documents=[Document.objects.get(pk=second.pk)], user=owner)

    assert str(second.pk) not in {r["document_id"] for r in searched_after(document_deleted)}

    def settings_changed():  # an edit of a serving field, through a stale copy's save() (as the admin would)
        copy = KnowledgeBase.objects.get(pk=kb.pk)
        copy.language = "simple"
        copy.save()

    searched_after(settings_changed)

    def document_metadata_changed():  # a document_metadata filter reads it
        Document.objects.filter(pk=first.pk).update(metadata={"team": "billing"})

    searched_after(document_metadata_changed)


def test_a_rebuilds_switch_misses(kb, owner, no_enqueue, monkeypatch, cache_on, settings):
    from kb import rebuild, rebuild_worker
    from kb.pipeline import runner

    monkeypatch.setattr(rebuild, "_enqueue", lambda rebuild_id: None)  # the worker runs in-process below
    document = services.document_create_from_text(
        kb=kb, user=owner, title="Lamps", content="The keeper trims the lamp wicks at dusk. " * 40
    )
    runner.process(document.pk)
    query = "who trims the lamp wicks"
    before = dicts(chunk_search(kb=kb, query=query, mode="hybrid", top_k=3))
    hits = count("hit")
    assert dicts(chunk_search(kb=kb, query=query, mode="hybrid", top_k=3)) == before and count("hit") == hits + 1
    started = rebuild.rebuild_start(kb=kb, user=owner, vector_store_config={"distance_metric": "dot"})
    version_before_switch = version(kb)
    rebuild_worker.run(started.pk)
    kb.refresh_from_db()
    assert kb.generation == 2 and version(kb) > version_before_switch
    misses = count("miss")
    after = dicts(chunk_search(kb=kb, query=query, mode="hybrid", top_k=3))
    assert count("miss") == misses + 1
    assert after == uncached(settings, kb=kb, query=query, mode="hybrid", top_k=3)
    assert {r["chunk_id"] for r in after}.isdisjoint({r["chunk_id"] for r in before})  # the new generation's rows


def test_different_options_are_different_entries(filled, texts):
    kb, first, _ = filled
    query = query_of(texts, 7)
    variants = [
        {"mode": "hybrid", "top_k": 5},
        {"mode": "hybrid", "top_k": 3},
        {"mode": "keyword", "top_k": 5},
        {"mode": "hybrid", "top_k": 5, "filters": {"document_ids": [str(first.pk)]}},
        {"mode": "hybrid", "top_k": 5, "score_threshold": 0.3},
        {"mode": "hybrid", "top_k": 5, "fusion_method": "rrf"},
        {"mode": "hybrid", "top_k": 5, "fusion_method": "rrf", "rrf_k_value": 10},
        {"mode": "hybrid", "top_k": 5, "vector_weight": 0.2},
    ]
    misses = count("miss")
    answers = [dicts(chunk_search(kb=kb, query=query, **options)) for options in variants]
    assert count("miss") == misses + len(variants)  # none answered from another's entry
    assert len(list(get_client().scan_iter(match=cache.scope_pattern(kb.pk)))) == len(variants)
    assert len(answers[1]) == 3 and len(answers[0]) == 5
    assert {r["document_id"] for r in answers[3]} == {str(first.pk)}
    hits = count("hit")
    assert [dicts(chunk_search(kb=kb, query=query, **options)) for options in variants] == answers
    assert count("hit") == hits + len(variants)


def test_a_setting_that_shapes_rankings_is_part_of_the_key(filled, texts, settings):
    kb, _, _ = filled
    query = query_of(texts, 9)
    chunk_search(kb=kb, query=query, mode="hybrid", top_k=5)
    settings.SEARCH_VECTOR_WEIGHT = 0.1
    misses = count("miss")
    changed = dicts(chunk_search(kb=kb, query=query, mode="hybrid", top_k=5))
    assert count("miss") == misses + 1
    assert changed == uncached(settings, kb=kb, query=query, mode="hybrid", top_k=5)


def test_another_tenants_kb_with_the_same_content_and_query_never_shares_an_entry(filled, texts, cache_on):
    kb, _, _ = filled
    workspace, stranger = make_tenant("Globex")
    theirs = KnowledgeBase.objects.create(
        workspace=workspace, name="Cached", created_by=stranger, embedding_config=MODEL
    )
    add_chunks(theirs, texts[:20], vectors()[:20], name="First")
    query = query_of(texts, 3)
    mine = chunk_search(kb=kb, query=query, mode="hybrid", top_k=5)
    misses, hits = count("miss"), count("hit")
    other = chunk_search(kb=theirs, query=query, mode="hybrid", top_k=5)
    assert count("miss") == misses + 1 and count("hit") == hits
    assert {r.chunk_id for r in other}.isdisjoint({r.chunk_id for r in mine})
    mine_keys = set(get_client().scan_iter(match=cache.scope_pattern(kb.pk)))
    their_keys = set(get_client().scan_iter(match=cache.scope_pattern(theirs.pk)))
    assert len(mine_keys) == len(their_keys) == 1 and mine_keys.isdisjoint(their_keys)


def test_a_stale_entry_never_brings_a_disabled_document_back(filled, texts, owner):
    """The serving scope at hydration is the safety net: with the document trigger switched off (a change the
    version missed), the entry names a disabled document's chunks; the cache ignores it and searches."""
    kb, _, second = filled
    query = query_of(texts, 24)
    assert str(second.pk) in {r.document_id for r in chunk_search(kb=kb, query=query, mode="keyword", top_k=5)}
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE kb_document DISABLE TRIGGER kb_document_content_version")
    try:
        before = version(kb)
        services.documents_set_enabled(kb=kb, document_ids=[second.pk], enabled=False, user=owner)
        assert version(kb) == before  # the version did not move: the entry is found
        hits = count("hit")
        results = chunk_search(kb=kb, query=query, mode="keyword", top_k=5)
        assert count("hit") == hits
        assert str(second.pk) not in {r.document_id for r in results}
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE kb_document ENABLE TRIGGER kb_document_content_version")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_redis_unavailable_the_search_still_answers(filled, texts, monkeypatch, settings):
    kb, _, _ = filled
    query = query_of(texts, 11)
    expected = uncached(settings, kb=kb, query=query, mode="hybrid", top_k=5)
    dead = redis.Redis(host="127.0.0.1", port=_closed_port(), socket_connect_timeout=0.5, socket_timeout=0.5)
    monkeypatch.setattr(cache, "_redis", lambda: dead)  # the outage: a real client, nothing listening
    bypasses = count("bypass")
    assert dicts(chunk_search(kb=kb, query=query, mode="hybrid", top_k=5)) == expected
    assert dicts(chunk_search(kb=kb, query=query, mode="hybrid", top_k=5)) == expected
    assert count("bypass") == bypasses + 2


class RolledBack(Exception):
    pass


def test_a_search_inside_a_callers_transaction_stores_nothing(filled, texts):
    kb, _, _ = filled
    query = query_of(texts, 13)
    bypasses = count("bypass")
    with pytest.raises(RolledBack), transaction.atomic():
        add_chunks(kb, [texts[13]], vectors()[13:14], name="Uncommitted")
        found = chunk_search(kb=kb, query=query, mode="keyword", top_k=5)
        assert "Uncommitted" in {r.document_name for r in found}  # its own writes, never an entry
        raise RolledBack
    assert count("bypass") == bypasses + 1
    assert not list(get_client().scan_iter(match=cache.scope_pattern(kb.pk)))

    committed = dicts(chunk_search(kb=kb, query=query, mode="keyword", top_k=5))  # cached now
    assert "Uncommitted" not in {r["document_name"] for r in committed}
    hits = count("hit")
    with transaction.atomic():  # a transaction that has written nothing to the KB reads the committed entry
        assert dicts(chunk_search(kb=kb, query=query, mode="keyword", top_k=5)) == committed
    assert count("hit") == hits + 1
    with transaction.atomic():  # one that has: its own state, not the entry
        add_chunks(kb, [texts[13]], vectors()[13:14], name="Committed")
        assert "Committed" in {r.document_name for r in chunk_search(kb=kb, query=query, mode="keyword", top_k=5)}
    assert count("hit") == hits + 1


def test_disabled_by_setting(filled, texts, settings):
    kb, _, _ = filled
    settings.SEARCH_RESULT_CACHE_SECONDS = 0
    bypasses = count("bypass")
    chunk_search(kb=kb, query=query_of(texts, 2), mode="keyword", top_k=5)
    assert count("bypass") == bypasses + 1
    assert not list(get_client().scan_iter(match=cache.scope_pattern(kb.pk)))


# ---------------------------------------------------------------- the content version's triggers


def test_a_bulk_write_bumps_the_version_once_per_transaction_at_its_commit(make_kb, texts):
    kb = make_kb(name="Bulk", embedding_config=MODEL)
    chunks = [ChunkData(index=i, content=f"{texts[i % 40]} {i}", token_count=9, word_count=9, char_count=60)
              for i in range(300)]  # fmt: skip
    vecs = np.asarray(vectors()[[i % 40 for i in range(300)]])
    document = Document.objects.create(kb=kb, name="Bulk", source_type="text_input", status="ready")
    before = version(kb)
    started_us = int(time.time() * 1_000_000)

    def own_statistics(table: str) -> tuple[int, int]:  # this transaction's rows inserted / updated so far
        with connection.cursor() as cursor:
            cursor.execute("SELECT n_tup_ins, n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = %s", [table])
            return tuple(cursor.fetchone())

    with transaction.atomic():
        replace_chunks(document_id=document.pk, kb_id=kb.pk, language=kb.language, version=1, chunks=chunks,
                       vectors=vecs)  # fmt: skip
        assert own_statistics("kb_content_mark")[0] == 1  # 300 single-row INSERTs, one mark
        assert own_statistics("kb_content_version")[1] == 0  # the version row is bumped (and locked) only at commit
        assert own_statistics("kb_knowledgebase")[1] == 0  # the KB row is never written by a store
        assert version(kb) == before
    after = version(kb)
    assert after > before
    assert after >= started_us - 5_000_000  # clock-based (restore-proof): microseconds since the epoch
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM kb_content_mark")
        assert cursor.fetchone()[0] == 0  # the mark went with its transaction


def test_the_version_is_never_lowered_by_a_stale_save(make_kb, texts):
    kb = make_kb(name="Stale", embedding_config=MODEL)
    stale = KnowledgeBase.objects.get(pk=kb.pk)
    made = version(kb)
    assert made > 0  # the KB's row is made with the KB
    add_chunks(kb, texts[:2], vectors()[:2])
    bumped = version(kb)
    assert bumped > made
    stale.name = "Renamed"
    stale.save()  # writes every field of a copy loaded before the bump
    assert version(kb) == bumped  # kept; a name is not served content, so no new version either


def test_the_version_row_goes_with_its_kb(make_kb, texts):
    kb = make_kb(name="Gone", embedding_config=MODEL)
    add_chunks(kb, texts[:2], vectors()[:2])
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM kb_content_version WHERE kb_id = %s", [kb.pk])
        assert cursor.fetchone()[0] == 1
        KnowledgeBase.objects.filter(pk=kb.pk).delete()
        cursor.execute("SELECT count(*) FROM kb_content_version WHERE kb_id = %s", [kb.pk])
        assert cursor.fetchone()[0] == 0  # no id of a deleted KB is left behind (kb.deletion's trace scan)


@pytest.mark.parametrize(
    ("field", "value", "bumps"),
    [
        ("generation", 7, True),
        ("language", "simple", True),
        ("embedding_config", {"model": "another-model"}, True),
        ("vector_store_config", {"provider": "pgvector", "distance_metric": "dot"}, True),
        ("name", "Renamed", False),
        ("description", "Only words about the KB", False),
    ],
)
def test_serving_fields_bump_the_version_and_others_do_not(make_kb, field, value, bumps):
    kb = make_kb(name="Fields", embedding_config=MODEL)
    before = version(kb)
    KnowledgeBase.objects.filter(pk=kb.pk).update(**{field: value})
    assert (version(kb) > before) is bumps


def test_results_grouped_by_document_come_back_whole_from_a_hit(filled, texts, settings):
    kb, _, _ = filled
    query = query_of(texts, 3)  # the vector leg ranks every chunk: each document brings its other ones
    options = {"mode": "hybrid", "top_k": 2, "group_by": "document", "chunks_per_document": 3}
    missed = chunk_search(kb=kb, query=query, **options)
    assert len(missed) == 2 and all(len(r.document_chunks) == 2 for r in missed)
    hits = count("hit")
    hit = chunk_search(kb=kb, query=query, **options)
    assert count("hit") == hits + 1
    assert dicts(hit) == dicts(missed) == uncached(settings, kb=kb, query=query, **options)
    assert dicts(chunk_search(kb=kb, query=query, mode="hybrid", top_k=2)) != dicts(hit)  # not the ungrouped entry
