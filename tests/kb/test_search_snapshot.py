"""One search reads one snapshot (kb.search.snapshot): a commit that lands between its statements — here the
ranked chunks' document deleted after the keyword leg and before hydration, as a new file version's switch does —
changes nothing for that search. Run outside a test transaction (transactional_db), as the doors run."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from kb.models import Document
from kb.search import chunk_search, selector
from tests.kb.test_search import add_chunks, paragraphs, vectors


def _delete_elsewhere(document_id) -> None:
    """Delete the document (and by cascade its chunks) on another connection, committed before returning."""

    def run():
        try:
            Document.objects.filter(pk=document_id).delete()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert not thread.is_alive()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
def test_a_commit_between_the_legs_and_hydration_does_not_empty_the_search(make_kb, monkeypatch, mode):
    kb = make_kb(name="Snapshot", embedding_config={"model": "all-MiniLM-L6-v2"})
    texts = list(paragraphs(20))
    doc = add_chunks(kb, texts, vectors()[:20])
    query = " ".join(texts[3].split()[:6])
    hydrate = selector._hydrate
    seen_in_transaction = []

    def hydrate_after_a_concurrent_delete(kb_id, ids):
        seen_in_transaction.append(connection.in_atomic_block)
        _delete_elsewhere(doc.pk)
        return hydrate(kb_id, ids)

    monkeypatch.setattr(selector, "_hydrate", hydrate_after_a_concurrent_delete)
    results = chunk_search(kb=kb, query=query, mode=mode, top_k=5)
    assert seen_in_transaction == [True]
    assert not Document.objects.filter(pk=doc.pk).exists()  # the delete did commit meanwhile
    assert results and {r.document_id for r in results} == {str(doc.pk)}  # as of the search's snapshot
    assert texts[3] in [r.content for r in results]

    monkeypatch.setattr(selector, "_hydrate", hydrate)
    assert chunk_search(kb=kb, query=query, mode=mode, top_k=5) == []  # the next search sees the delete


@pytest.mark.django_db(transaction=True)
def test_the_search_reads_the_kb_serving_state_of_its_snapshot_not_the_callers_copy(make_kb):
    kb = make_kb(name="Stale", embedding_config={"model": "all-MiniLM-L6-v2"})
    texts = list(paragraphs(10))
    add_chunks(kb, texts, vectors()[:10])
    stale = type(kb).objects.get(pk=kb.pk)
    stale.generation = 99  # what a caller holding the object from before a rebuild's switch would have
    query = " ".join(texts[2].split()[:6])
    results = chunk_search(kb=stale, query=query, mode="keyword", top_k=10)
    assert texts[2] in [r.content for r in results]  # generation 99 has no chunks: the stale copy finds nothing
    assert stale.generation == 99  # the caller's object is left alone
