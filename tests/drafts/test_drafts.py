"""Draft mode: sources, config, preview == indexed, validation, finalize, expiry, access."""

import io
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone

from drafts import processing
from drafts.models import DraftSource, KBDraft
from drafts.preview import draft_preview, draft_validate
from drafts.selectors import draft_get_for_user
from drafts.services import (
    draft_config_update,
    draft_create,
    draft_delete,
    draft_finalize,
    draft_source_add_file,
    draft_source_add_text,
    draft_source_add_website,
    draft_source_remove,
    drafts_expire,
)
from kb.models import Chunk, Document
from kb.pipeline import runner
from kb.pipeline.types import PipelineError
from privexbot.storage import get_storage

TEXT = "Our refund policy: refunds are issued within 14 days of receiving the returned item. " * 30


def add_file(draft, user, path, **kwargs):
    with open(path, "rb") as fh:
        return draft_source_add_file(
            draft=draft, user=user, filename=path.name, fileobj=io.BytesIO(fh.read()), **kwargs
        )


def test_new_draft_gets_the_design_guide_defaults(draft):
    assert draft.chunking_config == {
        "strategy": "recursive", "chunk_size": 1000, "chunk_overlap": 200, "separators": ["\n\n", "\n", ". ", " "],
        "size_unit": "characters",
    }  # fmt: skip
    assert draft.embedding_config == {
        "provider": "sentence_transformers", "model": "all-MiniLM-L6-v2", "dimensions": 384, "batch_size": 32
    }  # fmt: skip
    assert draft.vector_store_config == {
        "provider": "pgvector",
        "distance_metric": "cosine",
        "enable_hybrid_search": True,
    }
    assert timedelta(days=6.9) < draft.expires_at - timezone.now() <= timedelta(days=7)


@pytest.mark.parametrize(("name", "description"), [("", ""), ("x" * 256, ""), ("ok", "d" * 1001)])
def test_draft_fields_are_validated(workspace, owner, name, description):
    with pytest.raises(ValidationError):
        draft_create(workspace=workspace, user=owner, name=name, description=description)


def test_text_source_is_completed_with_counts(draft, owner):
    source = draft_source_add_text(draft=draft, user=owner, title="Refunds", content=TEXT)
    assert source.status == "completed"
    assert source.metadata["word_count"] == len(TEXT.split())
    assert source.metadata["character_count"] == len(TEXT)
    assert source.content_preview == TEXT[:500]
    with pytest.raises(ValidationError) as info:
        draft_source_add_text(draft=draft, user=owner, title="Short", content="too short")
    assert "content" in info.value.message_dict


def test_file_source_is_parsed_once_in_the_background(draft, owner, corpus, no_enqueue):
    source = add_file(draft, owner, corpus / "pdf" / "exam-n.pdf")
    assert source.status == "pending"
    assert no_enqueue == [("parse_draft_source", str(source.pk))]
    assert b"%PDF" not in get_storage().raw_bytes(source.stored_file)[:100]  # encrypted at rest
    assert processing.parse_source(source.pk) == "completed"
    source.refresh_from_db()
    assert source.metadata["page_count"] == 17
    assert source.metadata["original_filename"] == "exam-n.pdf"
    assert source.metadata["processing_metadata"]["elements"] > 10
    assert 0 < len(source.content_preview) <= 500
    assert processing.parse_source(source.pk) is None  # a redelivered message does not parse again


def test_bad_files_are_rejected_with_a_reason_and_nothing_is_stored(draft, owner, corpus, tmp_path, settings):
    fake = tmp_path / "invoice.pdf"
    fake.write_bytes(b"PK\x03\x04 not really a pdf" * 20)
    with pytest.raises(PipelineError) as info:
        add_file(draft, owner, fake)
    assert info.value.code == "type_mismatch"
    with pytest.raises(PipelineError) as info:
        add_file(draft, owner, corpus / "xlsx" / sorted(p.name for p in (corpus / "xlsx").glob("*.xls"))[0])
    assert info.value.code == "unsupported_type"
    settings.MAX_FILE_SIZE = 1000
    with pytest.raises(PipelineError) as info:
        add_file(draft, owner, corpus / "pdf" / "exam-n.pdf")
    assert info.value.code == "too_large"
    assert not DraftSource.objects.exists()


def test_a_broken_file_fails_alone(draft, owner, corpus, no_enqueue):
    bad = add_file(draft, owner, corpus / "pdf" / "broken" / "encrypted-file.pdf")
    good = draft_source_add_text(draft=draft, user=owner, title="Refunds", content=TEXT)
    assert processing.parse_source(bad.pk) == "error"
    bad.refresh_from_db()
    assert bad.error_code == "encrypted" and "password" in bad.error.lower()
    report = draft_validate(draft=draft)
    assert report["valid"] is True
    assert "1 sources failed to process" in report["warnings"]
    assert report["stats"]["completed_sources"] == 1 and report["stats"]["failed_sources"] == 1
    assert good.status == "completed"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"chunking_config": {"strategy": "sentences"}}, "chunking_config.strategy"),
        ({"chunking_config": {"chunk_size": 50}}, "chunking_config.chunk_size"),
        ({"chunking_config": {"chunk_size": 500, "chunk_overlap": 500}}, "chunking_config.chunk_overlap"),
        ({"embedding_config": {"model": "all-MiniLM-L6-v2", "dimensions": 768}}, "embedding_config.dimensions"),
        ({"embedding_config": {"provider": "openai", "model": "text-embedding-3-small"}}, "embedding_config.provider"),
        ({"embedding_config": {"model": "no-such-model"}}, "embedding_config.model"),
        ({"embedding_config": {"batch_size": 101}}, "embedding_config.batch_size"),
        ({"vector_store_config": {"distance_metric": "manhattan"}}, "vector_store_config.distance_metric"),
    ],
)
def test_config_updates_are_validated_naming_the_field(draft, change, field):
    with pytest.raises(ValidationError) as info:
        draft_config_update(draft=draft, **change)
    assert field in info.value.message_dict


def test_preview_reflects_the_config_and_fits_the_model_window(draft, owner):
    source = draft_source_add_text(draft=draft, user=owner, title="Refunds", content=TEXT)
    draft_source_add_text(draft=draft, user=owner, title="Other", content="Shipping is free above 50 euros. " * 40)
    default = draft_preview(draft=draft)
    assert default["total_chunks"] == len(default["chunks"]) > 2
    assert default["estimated_embedding_cost"] == 0.0  # self-hosted
    chunk = default["chunks"][0]
    assert set(chunk) >= {
        "id",
        "content",
        "token_count",
        "word_count",
        "char_count",
        "source_id",
        "source_name",
        "chunk_index",
        "metadata",
        "context",
        "embedding_text",
        "embedded_chars",
    }
    # Each chunk shows what is embedded: its context line (the source's title here), a newline, the content.
    assert chunk["context"].startswith("Refunds") or chunk["context"].startswith("Other")
    assert chunk["embedding_text"] == f"{chunk['context']}\n{chunk['content']}"
    assert chunk["embedded_chars"] == len(chunk["embedding_text"])
    assert "1,000 characters ≈" in default["size_note"] and "256-token window" in default["size_note"]
    assert default["avg_chunk_size"] == pytest.approx(
        sum(c["char_count"] for c in default["chunks"]) / default["total_chunks"], abs=0.1
    )
    draft_config_update(draft=draft, chunking_config={"chunk_size": 300, "chunk_overlap": 0})
    smaller = draft_preview(draft=draft)
    assert smaller["total_chunks"] > default["total_chunks"]
    assert all(c["char_count"] <= 300 for c in smaller["chunks"])
    one = draft_preview(draft=draft, source_id=source.pk)
    assert {c["source_id"] for c in one["chunks"]} == {str(source.pk)}
    draft_config_update(draft=draft, chunking_config={"chunk_size": 4000, "chunk_overlap": 0})
    big = draft_preview(draft=draft)
    # 4,000 characters are far more than the model's 256 tokens: every chunk is cut to fit, none is truncated.
    assert max(c["char_count"] for c in big["chunks"]) < 4000
    assert big["truncated_chunks"] == 0 and not big["warnings"]
    assert all(c["token_count"] <= 256 for c in big["chunks"])
    draft_config_update(draft=draft, chunking_config={"size_unit": "tokens", "chunk_size": 64, "chunk_overlap": 0})
    tokens = draft_preview(draft=draft)
    assert tokens["total_chunks"] > big["total_chunks"] and "64 tokens ≈" in tokens["size_note"]


def test_validation_errors(workspace, owner):
    empty = draft_create(workspace=workspace, user=owner, name="Empty")
    assert draft_validate(draft=empty)["errors"] == ["At least one source must be added"]
    with pytest.raises(ValidationError):
        draft_finalize(draft=empty, user=owner)
    DraftSource.objects.create(draft=empty, type="file_upload", name="x.pdf", status="pending")
    report = draft_validate(draft=empty)
    assert report["errors"] == ["At least one source must be successfully processed"]
    assert "1 sources are still being processed" in report["warnings"]


def test_finalize_indexes_exactly_what_the_preview_showed(draft, owner, corpus, no_enqueue):
    pdf = add_file(draft, owner, corpus / "pdf" / "exam-n.pdf")
    processing.parse_source(pdf.pk)
    draft_source_add_text(draft=draft, user=owner, title="Refunds", content=TEXT)
    draft_config_update(draft=draft, chunking_config={"strategy": "by_heading", "chunk_size": 700, "chunk_overlap": 0})
    preview = draft_preview(draft=draft)

    kb = draft_finalize(draft=draft, user=owner)
    assert not KBDraft.objects.filter(pk=draft.pk).exists()
    assert kb.chunking_config["strategy"] == "by_heading" and kb.chunking_config["chunk_size"] == 700
    documents = list(Document.objects.filter(kb=kb).order_by("created_at"))
    assert [d.name for d in documents] == ["exam-n.pdf", "Refunds"]
    assert {("document", str(d.pk)) for d in documents} <= set(no_enqueue)
    for doc in documents:
        assert runner.process(doc.pk).status == "ready"
    indexed = [
        (c.document.name, c.index, c.content, c.token_count)
        for c in Chunk.objects.filter(kb=kb).select_related("document").order_by("document__created_at", "index")
    ]
    previewed = [(c["document_name"], c["chunk_index"], c["content"], c["token_count"]) for c in preview["chunks"]]
    assert indexed == previewed
    documents[0].refresh_from_db()
    assert documents[0].stats["parse_s"] < 0.5  # the draft's parse was reused, not repeated


def test_website_source_crawls_and_each_page_becomes_a_document(draft, owner, docs_site, no_enqueue):
    with pytest.raises(ValidationError) as info:
        draft_source_add_website(draft=draft, user=owner, url="ftp://example.com/", crawl_config={})
    assert "url" in info.value.message_dict
    with pytest.raises(ValidationError) as info:
        draft_source_add_website(draft=draft, user=owner, url=docs_site + "/", crawl_config={"max_pages": 1001})
    assert "crawl_config.max_pages" in info.value.message_dict
    with pytest.raises(ValidationError):
        draft_source_add_website(draft=draft, user=owner, url=docs_site + "/", crawl_config={"concurrency": 500})

    source = draft_source_add_website(
        draft=draft, user=owner, url=docs_site + "/index.html", crawl_config={"max_depth": 1, "max_pages": 4}
    )
    assert source.status == "pending" and ("crawl_draft_source", str(source.pk)) in no_enqueue
    assert processing.crawl_source(source.pk) == "completed"
    source.refresh_from_db()
    assert source.pages_processed == 4
    assert len([r for r in source.crawl_report if r["stored"]]) == 4
    preview = draft_preview(draft=draft)
    assert {c["metadata"]["url"] for c in preview["chunks"]} <= {r["url"] for r in source.crawl_report}
    kb = draft_finalize(draft=draft, user=owner)
    urls = list(Document.objects.filter(kb=kb).values_list("url", flat=True))
    assert len(urls) == 4 and all(u.startswith(docs_site) for u in urls)


def test_unreachable_website_ends_as_an_error(draft, owner, no_enqueue):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    source = draft_source_add_website(draft=draft, user=owner, url=f"http://127.0.0.1:{port}/", crawl_config={})
    assert processing.crawl_source(source.pk) == "error"
    source.refresh_from_db()
    assert "refused" in source.error


def test_remove_source_and_delete_draft_delete_the_stored_files(
    draft, owner, corpus, no_enqueue, django_capture_on_commit_callbacks
):
    storage = get_storage()
    source = add_file(draft, owner, corpus / "md" / "nodejs-path.md")
    text = draft_source_add_text(draft=draft, user=owner, title="Refunds", content=TEXT)
    with django_capture_on_commit_callbacks(execute=True):
        draft_source_remove(draft=draft, source=source, user=owner)
    assert not storage.exists(source.stored_file)
    with django_capture_on_commit_callbacks(execute=True):
        draft_delete(draft=draft, user=owner)
    assert not storage.exists(text.stored_file) and not storage.exists(text.elements_file)


def test_expired_drafts_are_deleted_with_their_files(workspace, owner, django_capture_on_commit_callbacks):
    old = draft_create(workspace=workspace, user=owner, name="Old")
    fresh = draft_create(workspace=workspace, user=owner, name="Fresh")
    text = draft_source_add_text(draft=old, user=owner, title="T", content=TEXT)
    KBDraft.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert drafts_expire() == 1
    assert list(KBDraft.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert not get_storage().exists(text.stored_file)


def test_access_funnel_for_drafts(draft, member, viewer, outsider):
    assert draft_get_for_user(user=member, draft_id=draft.pk) == draft  # editors may build KBs
    with pytest.raises(PermissionDenied):
        draft_get_for_user(user=viewer, draft_id=draft.pk)
    with pytest.raises(Http404):
        draft_get_for_user(user=outsider, draft_id=draft.pk)
    with pytest.raises(Http404):
        draft_get_for_user(user=member, draft_id="not-a-uuid")


def test_sources_whose_worker_died_are_retried_then_fail_with_a_reason(draft, owner, monkeypatch):
    from drafts import actors

    sent = []
    monkeypatch.setattr(actors.parse_draft_source, "send", lambda pk: sent.append(pk))
    monkeypatch.setattr(actors.crawl_draft_source, "send", lambda pk: sent.append(("crawl", pk)))
    old = timezone.now() - timedelta(hours=1)
    make = DraftSource.objects.create
    retry = make(draft=draft, type="file_upload", name="a.pdf", status="processing", attempts=1, heartbeat_at=old)
    dead = make(draft=draft, type="file_upload", name="b.pdf", status="processing", attempts=3, heartbeat_at=old)
    alive = make(draft=draft, type="file_upload", name="c.pdf", status="processing", attempts=1)
    site = make(draft=draft, type="website_crawl", name="site", status="processing", attempts=2, heartbeat_at=old)
    DraftSource.objects.filter(pk=alive.pk).update(heartbeat_at=timezone.now())
    assert actors.sweep_sources() == {"requeued": 2, "failed": 1}
    assert sorted(map(str, sent)) == sorted([str(retry.pk), str(("crawl", str(site.pk)))])
    states = dict(DraftSource.objects.values_list("name", "status"))
    assert states == {"a.pdf": "pending", "b.pdf": "error", "c.pdf": "processing", "site": "pending"}
    assert "killed" in DraftSource.objects.get(pk=dead.pk).error
    assert actors.sweep_sources() == {"requeued": 0, "failed": 0}
