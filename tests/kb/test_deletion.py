"""The secure-deletion service (kb.deletion): what goes, the signed receipt, running work that must not write
back, verify_deletion, and the receipt's doors (API, pages)."""

import hashlib
import io
import json
import uuid

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from kb.deletion import delete_documents, delete_kb
from kb.models import Chunk, Document, EmbeddingCache, KnowledgeBase
from kb.pipeline import runner
from kb.pipeline.types import embedding_text
from kb.search import chunk_search
from kb.services import document_create_from_file, document_create_from_text, kb_delete
from privexbot.models import DeletionReceipt
from privexbot.receipts import receipt_signature_valid
from privexbot.storage import get_storage
from tenants.models import Membership, Role, Workspace
from tests.conftest import make_user

TEXT = (
    "The lighthouse keeper logs the fog horn hours in the blue ledger every night. "
    "Spare lamp wicks are stored in the oak chest beside the stairs.\n\n"
) * 8
SHARED = "A paragraph that two knowledge bases of one organization both hold, word for word, for the cache test."


def index_text(kb, user, title="Log", content=None):
    # Unique per test: stored files of earlier tests stay on disk (their on_commit deletion never runs in a
    # test transaction), and verify_deletion would rightly find their identical content.
    content = content or f"{TEXT}\n\nRun {uuid.uuid4()}."
    document = document_create_from_text(kb=kb, user=user, title=title, content=content)
    runner.process(document.pk)
    document.refresh_from_db()
    return document


def verify(reference) -> str:
    out = io.StringIO()
    try:
        call_command("verify_deletion", str(reference), stdout=out)
    except CommandError as exc:
        raise CommandError(f"{exc}\n{out.getvalue()}") from None  # the per-store report, for the failure message
    return out.getvalue()


def test_kb_deletion_removes_every_derived_copy_and_signs_a_receipt(kb, make_kb, owner, no_enqueue, settings):
    from drafts.models import DraftSource, KBDraft
    from drafts.services import draft_create, draft_source_add_text
    from kb.search.query_embedding import scope_pattern
    from kb.sharing import kb_share
    from privexbot.redis import get_client

    settings.EMBEDDING_CACHE_TTL = 3600
    document = index_text(kb, owner)
    keeper = index_text(make_kb("Other"), owner, title="Shared", content=SHARED * 3)  # same org, other KB
    chunk_hashes = set(Chunk.objects.filter(document=document).values_list("content_hash", flat=True))
    embedded = [
        embedding_text(ctx, c) for ctx, c in Chunk.objects.filter(document=document).values_list("context", "content")
    ]
    assert chunk_hashes == {hashlib.sha256(t.encode()).hexdigest() for t in embedded}  # sha256 of the embedded text
    files = [document.stored_file, document.elements_file]
    draft = draft_create(workspace=kb.workspace, user=owner, name="More", target_kb=kb)
    source = draft_source_add_text(draft=draft, user=owner, title="Draft page", content=f"{TEXT} draft {uuid.uuid4()}")
    colleague = make_user("colleague")  # of the organization, outside the workspace: a grant is their only way in
    sales = Workspace.objects.create(organization=kb.workspace.organization, name="Sales")
    Membership.objects.create(user=colleague, workspace=sales, role=Role.VIEWER)
    kb_share(user=owner, kb_id=kb.pk, identifier=colleague.email, level="read")
    chunk_search(kb=kb, query="fog horn ledger", mode="hybrid", top_k=3)
    assert list(get_client().scan_iter(match=scope_pattern(kb.pk)))

    storage = get_storage()
    draft_files = [source.stored_file, source.elements_file]
    draft_sha = hashlib.sha256(storage.open_bytes(source.stored_file)).hexdigest()
    org = kb.workspace.organization_id
    kb_id = kb.pk
    receipt = delete_kb(kb=kb, user=owner)
    # on_commit callbacks do not run inside the test transaction: run the after-commit step as it would run
    from kb.deletion import _after_commit

    _after_commit(files=receipt.body["stored_files"], kb_id=kb_id, temp_dirs=[])

    assert not KnowledgeBase.objects.filter(pk=kb_id).exists() and not Document.objects.filter(pk=document.pk).exists()
    assert not Chunk.objects.filter(kb_id=kb_id).exists()
    assert not any(storage.exists(f) for f in files + draft_files)
    assert not KBDraft.objects.filter(pk=draft.pk).exists() and not DraftSource.objects.filter(pk=source.pk).exists()
    assert not EmbeddingCache.objects.filter(organization_id=org, text_hash__in=chunk_hashes).exists()
    assert EmbeddingCache.objects.filter(organization_id=org, text_hash__in=keeper_hashes(keeper)).count() > 0
    assert not list(get_client().scan_iter(match=scope_pattern(kb_id)))
    from guardian.models import UserObjectPermission

    assert not UserObjectPermission.objects.filter(object_pk=str(kb_id)).exists()

    body = receipt.body
    assert receipt_signature_valid(body, receipt.signature)
    assert body["knowledge_base_id"] == str(kb_id) and body["document_ids"] == [str(document.pk)]
    assert set(body["hashes"]["chunks_sha256"]) == chunk_hashes
    assert document.content_hash in body["hashes"]["files_sha256"] and draft_sha in body["hashes"]["files_sha256"]
    counts = body["counts"]
    assert counts["documents"] == 1 and counts["chunks"] == counts["vectors"] == counts["full_text_vectors"] > 0
    assert counts["files"] == 4 and counts["draft_sources"] == 1 and counts["drafts"] == 1
    assert counts["object_grants"] == 1 and counts["embedding_cache_entries"] == len(chunk_hashes)
    assert counts["query_embeddings"] >= 1
    text = json.dumps(body)
    assert "lighthouse" not in text and "Product docs" not in text and "Log" not in text  # no content, no names
    assert "0 traces" in verify(receipt.pk)


def keeper_hashes(document):
    return list(Chunk.objects.filter(document=document).values_list("content_hash", flat=True))


def test_a_tampered_receipt_fails_verification(kb, owner, no_enqueue, tmp_path):
    index_text(kb, owner)
    receipt = delete_kb(kb=kb, user=owner)
    path = tmp_path / "receipt.json"
    body = dict(receipt.body, counts={**receipt.body["counts"], "chunks": 0})
    path.write_text(json.dumps({"receipt": body, "signature": receipt.signature}))
    with pytest.raises(CommandError, match="signature does not match"):
        verify(path)


def test_verify_deletion_names_a_copy_that_remains(kb, make_kb, owner, no_enqueue):
    """The same text in another KB of the organization is a trace: the command finds it by chunk hash, so it can
    fail (and would find a deletion that left chunks behind)."""
    content = f"{TEXT}\n\nCopied {uuid.uuid4()}."
    document = index_text(kb, owner, content=content)
    copy = index_text(make_kb("Copy"), owner, title="Copy", content=content)
    receipt = delete_documents(documents=[document], user=owner)
    assert KnowledgeBase.objects.filter(pk=kb.pk).exists() and receipt.body["knowledge_base_deleted"] is False
    with pytest.raises(CommandError, match="traces"):
        verify(receipt.pk)
    Document.objects.filter(pk=copy.pk).delete()
    get_storage().delete(copy.stored_file)
    get_storage().delete(copy.elements_file)
    EmbeddingCache.objects.all().delete()
    for name in receipt.body["stored_files"]:
        get_storage().delete(name)
    assert "0 traces" in verify(receipt.pk)


def test_documents_deletion_keeps_the_kb_and_its_other_documents(kb, owner, no_enqueue):
    gone, kept = index_text(kb, owner, title="Gone"), index_text(kb, owner, title="Kept", content=SHARED * 4)
    receipt = delete_documents(documents=[gone], user=owner, reason="retention")
    assert receipt.reason == "retention" and receipt.scope == "documents"
    assert Document.objects.filter(kb=kb).get() == kept and Chunk.objects.filter(document=kept).exists()
    assert EmbeddingCache.objects.filter(text_hash__in=keeper_hashes(kept)).exists()


def test_embedding_after_the_document_was_deleted_caches_nothing(kb, owner, no_enqueue, monkeypatch):
    """A worker embedding a document when it is deleted: its next batch is not cached and the run stops."""
    from kb.pipeline import runtime

    document = document_create_from_text(kb=kb, user=owner, title="Log", content=TEXT)
    real = runtime.embedder

    class DeletesWhileEncoding:
        def __init__(self, model):
            self.inner = real(model)

        def encode(self, texts, **kwargs):
            vectors = self.inner.encode(texts, **kwargs)
            if Document.objects.filter(pk=document.pk).exists():
                delete_documents(documents=[Document.objects.get(pk=document.pk)], user=owner)
            return vectors

    monkeypatch.setattr(runtime, "embedder", DeletesWhileEncoding)
    outcome = runner.process(document.pk)
    assert outcome.status is None  # superseded: nothing written back
    assert not EmbeddingCache.objects.exists() and not Chunk.objects.exists()


def test_elements_parsed_after_the_document_was_deleted_are_shredded(kb, owner, no_enqueue, monkeypatch, corpus):
    from kb.pipeline import elements

    path = next(p for p in sorted(corpus.rglob("*.md")))
    with open(path, "rb") as fh:
        document = document_create_from_file(kb=kb, user=owner, filename=path.name, fileobj=io.BytesIO(fh.read()))
    saved = []

    def save_then_delete(parsed):
        name = elements.elements_save(parsed)
        saved.append(name)
        delete_documents(documents=[Document.objects.get(pk=document.pk)], user=owner)
        return name

    monkeypatch.setattr(runner, "elements_save", save_then_delete)
    assert runner.process(document.pk).status is None
    assert saved and not get_storage().exists(saved[0])


def test_database_blob_store_deletes_rows_and_vacuum_waits_for_commit(settings, db):
    from privexbot.models import StoredBlob, StoredBlobPart
    from privexbot.storage import reset_storage
    from privexbot.storage.database import vacuum_blobs

    settings.STORAGE_BACKEND = "database"
    reset_storage()
    try:
        storage = get_storage()
        name = storage.save(b"sealed bytes " * 100)
        assert StoredBlobPart.objects.filter(blob__name=name).exists()
        assert storage.delete(name)
        assert not StoredBlob.objects.filter(name=name).exists() and not StoredBlobPart.objects.exists()
        assert vacuum_blobs() is False  # inside the test's transaction: VACUUM cannot run, autovacuum does it
    finally:
        reset_storage()


def test_receipt_doors_are_scoped_to_the_workspace(kb, make_kb, owner, member, outsider, no_enqueue):
    from tenants.tokens import api_token_create

    index_text(kb, owner)
    other = make_kb("Other")
    receipt = kb_delete(kb=kb, user=owner)

    def api(user, **limit):
        _, token = api_token_create(user=user, name="t", scopes=["read"], **limit)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client.get(f"/api/v1/deletion-receipts/{receipt.pk}")

    response = api(owner)
    assert response.status_code == 200 and response.json()["signature"] == receipt.signature
    assert response.json()["receipt"]["id"] == str(receipt.pk)
    assert api(outsider).status_code == 404 and api(member).status_code == 404  # an editor did not delete it
    assert api(owner, kb_ids=[other.pk]).status_code == 404  # a key limited to another KB

    from django.test import Client

    client = Client()
    client.force_login(owner)
    assert client.get(reverse("kb:receipt", args=[receipt.pk])).status_code == 200
    download = client.get(reverse("kb:receipt_download", args=[receipt.pk]))
    assert json.loads(download.content)["signature"] == receipt.signature
    listing = client.get(reverse("kb:receipts", args=[kb.workspace_id])).content.decode()
    assert str(receipt.pk) in listing
    client.force_login(member)
    assert client.get(reverse("kb:receipts", args=[kb.workspace_id])).status_code == 403
    assert DeletionReceipt.objects.count() == 1


def test_api_delete_points_to_its_receipt(kb, owner, no_enqueue):
    from tenants.tokens import api_token_create

    _, token = api_token_create(user=owner, name="t", scopes=["admin"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.delete(f"/api/v1/knowledge-bases/{kb.pk}/")
    assert response.status_code == 204
    receipt = DeletionReceipt.objects.get()
    assert response["Deletion-Receipt"] == f"/api/v1/deletion-receipts/{receipt.pk}"
    assert client.get(response["Deletion-Receipt"]).status_code == 200


def test_vectors_of_unused_entries_are_pruned_only_within_the_organization(kb, owner, outsider, no_enqueue):
    from kb.pipeline.store import cache_store
    from tenants.models import Membership

    other_org = Membership.objects.get(user=outsider).workspace.organization_id
    document = index_text(kb, owner)
    hashes = keeper_hashes(document)
    cache_store(other_org, "all-MiniLM-L6-v2", [(hashes[0], np.ones(384, dtype=np.float32))])
    delete_kb(kb=kb, user=owner)
    assert not EmbeddingCache.objects.filter(organization_id=kb.workspace.organization_id).exists()
    assert EmbeddingCache.objects.filter(organization_id=other_org, text_hash=hashes[0]).exists()
