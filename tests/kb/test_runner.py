"""The pipeline run in-process on the real database and the real model (the worker only adds a process)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from kb.models import Chunk, Document, DocumentStatus
from kb.pipeline import runner
from kb.pipeline.types import PipelineError
from kb.services import document_create_from_text, document_reprocess
from tests.kb.conftest import upload

TEXT = (
    "Refunds are issued within 14 days of receiving the returned item. "
    "The item must be unused and in its original packaging.\n\n"
    "Shipping is free for orders above 50 euros. Express delivery costs 9 euros and arrives the next day.\n\n"
) * 8


def test_text_document_reaches_ready_with_embeddings_and_fulltext(kb, owner, no_enqueue):
    doc = document_create_from_text(kb=kb, user=owner, title="Policies", content=TEXT)
    assert no_enqueue == [str(doc.pk)]
    assert runner.process(doc.pk).status == DocumentStatus.READY
    doc.refresh_from_db()
    assert (doc.status, doc.progress, doc.attempts, doc.version) == ("ready", 100, 1, 1)
    chunks = list(Chunk.objects.filter(document=doc).order_by("index"))
    assert len(chunks) == doc.chunk_count > 1
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert all(c.embedding is not None and len(c.embedding) == 384 for c in chunks)
    assert abs(sum(x * x for x in chunks[0].embedding) - 1.0) < 1e-3  # normalised
    assert len(doc.config_hash) == 64
    assert set(doc.stage_times) >= {"started", "parsing", "chunking", "embedding", "indexing", "finished"}
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM kb_chunk WHERE document_id = %s"
            " AND search_vector @@ websearch_to_tsquery('english', 'refund')",
            [doc.pk],
        )
        assert cur.fetchone()[0] > 0


def test_identical_text_is_embedded_once_across_documents(kb, make_kb, owner, no_enqueue):
    # What is embedded is the context line (the title) plus the content: same title, same text, one embedding.
    first = document_create_from_text(kb=kb, user=owner, title="Policy", content=TEXT + "unique tail one")
    runner.process(first.pk)
    other_kb = make_kb("Another KB")
    second = document_create_from_text(kb=other_kb, user=owner, title="Policy", content=TEXT + "unique tail one")
    runner.process(second.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.stats["embedded"] == first.stats["unique_texts"] > 0
    assert second.stats["embedding_cache_hits"] == second.stats["unique_texts"]
    assert second.stats["embedded"] == 0


def test_reprocess_replaces_chunks_without_duplicates_and_reuses_work(kb, owner, no_enqueue):
    doc = document_create_from_text(kb=kb, user=owner, title="Policies", content=TEXT)
    runner.process(doc.pk)
    doc.refresh_from_db()
    count = doc.chunk_count
    document_reprocess(document=doc, user=owner)
    assert runner.process(doc.pk).status == DocumentStatus.READY
    doc.refresh_from_db()
    assert doc.version == 2
    assert Chunk.objects.filter(document=doc).count() == count
    assert set(Chunk.objects.filter(document=doc).values_list("version", flat=True)) == {2}
    assert doc.stats["embedded"] == 0 and doc.stats["embedding_cache_hits"] == doc.stats["unique_texts"]
    assert doc.stats["parse_s"] < 0.5  # elements were cached, not parsed again


def test_duplicate_message_for_a_document_in_progress_is_ignored(kb, owner, no_enqueue):
    doc = document_create_from_text(kb=kb, user=owner, title="T", content=TEXT)
    Document.objects.filter(pk=doc.pk).update(status=DocumentStatus.EMBEDDING, heartbeat_at=timezone.now())
    assert runner.process(doc.pk).status is None
    Document.objects.filter(pk=doc.pk).update(status=DocumentStatus.READY)
    assert runner.process(doc.pk).status is None


def test_bad_file_fails_alone_with_a_reason(kb, owner, no_enqueue, corpus):
    bad = upload(kb, owner, corpus / "pdf" / "broken" / "encrypted-file.pdf")
    good = document_create_from_text(kb=kb, user=owner, title="Good", content=TEXT)
    assert runner.process(bad.pk).status == DocumentStatus.FAILED
    assert runner.process(good.pk).status == DocumentStatus.READY
    bad.refresh_from_db()
    assert bad.error_code == "encrypted"
    assert "password" in bad.error.lower()
    assert bad.attempts == 1  # a permanent reason is not retried


def test_transient_failures_retry_then_quarantine(kb, owner, no_enqueue, monkeypatch, settings):
    from kb.actors import process_document

    sent = []
    monkeypatch.setattr(process_document, "send_with_options", lambda **kw: sent.append(kw))
    doc = document_create_from_text(kb=kb, user=owner, title="T", content=TEXT)

    def broken(*args, **kwargs):
        raise PipelineError("model_missing", "model directory vanished", permanent=False)

    monkeypatch.setattr("kb.pipeline.runtime.embedder", broken)
    # The actor runs the task body and sends the retry it asks for; the body itself sends nothing.
    outcomes = [runner.process(doc.pk) for _ in range(settings.DOCUMENT_MAX_ATTEMPTS)]
    assert [o.status for o in outcomes] == ["queued"] * (settings.DOCUMENT_MAX_ATTEMPTS - 1) + ["quarantined"]
    assert [o.retry_after_ms for o in outcomes] == [2_000, 4_000, None]
    assert sent == []
    doc.refresh_from_db()
    assert doc.status == "quarantined" and "model directory vanished" in doc.error
    assert "Gave up after 3 attempts" in doc.error


def test_actor_sends_the_retry_its_outcome_asks_for(kb, owner, no_enqueue, monkeypatch):
    from kb.actors import process_document

    sent = []
    monkeypatch.setattr(process_document, "send_with_options", lambda **kw: sent.append(kw))
    monkeypatch.setattr(runner, "process", lambda pk, **kw: runner.Outcome("queued", retry_after_ms=4_000))
    process_document.fn("some-id")
    monkeypatch.setattr(runner, "process", lambda pk, **kw: runner.Outcome("ready"))
    process_document.fn("other-id")
    assert sent == [{"args": ("some-id",), "delay": 4_000}]


def test_the_parse_slot_is_freed_once_the_elements_are_in_hand(kb, owner, corpus, no_enqueue, monkeypatch):
    """A document that must be parsed holds its workspace's parse slot (fairness) for the parse only: while it is
    chunked, embedded and stored, the workspace's next upload may parse."""
    from kb.actors import process_document
    from kb.pipeline import runtime
    from privexbot import slots

    doc = upload(kb, owner, corpus / "md" / "nodejs-fs.md")
    workspace = str(kb.workspace_id)
    held_while_chunking = []
    chunk_for_model = runtime.chunk_for_model

    def chunk_and_look(*args, **kwargs):
        held_while_chunking.append(slots.slots_held(kind=slots.PARSE, owner=workspace))
        return chunk_for_model(*args, **kwargs)

    monkeypatch.setattr(runtime, "chunk_for_model", chunk_and_look)
    parses = []
    load_elements = runner.load_elements

    def load_and_look(*args, **kwargs):
        parses.append(slots.slots_held(kind=slots.PARSE, owner=workspace))
        return load_elements(*args, **kwargs)

    monkeypatch.setattr(runner, "load_elements", load_and_look)
    process_document.fn(str(doc.pk))
    doc.refresh_from_db()
    assert doc.status == "ready"
    assert parses == [1]  # the parse ran inside the slot
    assert held_while_chunking == [0]  # and the slot was free again before chunking began
    assert slots.slots_held(kind=slots.PARSE, owner=workspace) == 0


def test_sweeper_requeues_silent_documents_and_quarantines_after_the_last_attempt(kb, owner, no_enqueue, monkeypatch):
    from kb.actors import process_document, sweep_documents

    sent = []
    monkeypatch.setattr(process_document, "send", lambda pk: sent.append(pk))
    old = timezone.now() - timedelta(hours=1)
    retry = document_create_from_text(kb=kb, user=owner, title="retry", content=TEXT)
    dead = document_create_from_text(kb=kb, user=owner, title="dead", content=TEXT)
    alive = document_create_from_text(kb=kb, user=owner, title="alive", content=TEXT)
    lost = document_create_from_text(kb=kb, user=owner, title="lost", content=TEXT)
    Document.objects.filter(pk=retry.pk).update(status="embedding", heartbeat_at=old, attempts=1)
    Document.objects.filter(pk=dead.pk).update(status="parsing", heartbeat_at=old, attempts=3)
    Document.objects.filter(pk=alive.pk).update(status="embedding", heartbeat_at=timezone.now(), attempts=1)
    Document.objects.filter(pk=lost.pk).update(updated_at=old)  # queued, its message long gone
    counts = sweep_documents()
    assert counts == {"requeued": 1, "quarantined": 1, "resent": 1}
    assert sorted(sent) == sorted([str(retry.pk), str(lost.pk)])
    states = dict(Document.objects.values_list("name", "status"))
    assert states == {"retry": "queued", "dead": "quarantined", "alive": "embedding", "lost": "queued"}
    assert "killed" in Document.objects.get(pk=dead.pk).error
    assert sweep_documents() == {"requeued": 0, "quarantined": 0, "resent": 0}  # nothing twice


def test_rejected_upload_stores_nothing(kb, owner, no_enqueue, tmp_path):
    from privexbot.storage import get_storage

    fake = tmp_path / "report.pdf"
    fake.write_bytes(b"MZ\x90\x00 this is an executable, not a PDF" * 10)
    before = sum(1 for _ in get_storage().stored_files())
    with pytest.raises(PipelineError) as info:
        upload(kb, owner, fake)
    assert info.value.code == "type_mismatch"
    assert not Document.objects.exists()
    assert sum(1 for _ in get_storage().stored_files()) == before
