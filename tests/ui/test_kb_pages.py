"""KB page: documents with polling, retry, add sources, settings, delete + export, and who may do what."""

import io
import json
import zipfile

import pytest
from django.urls import reverse

from drafts.models import KBDraft
from kb.models import Chunk, Document, KnowledgeBase
from privexbot.models import AuditEvent

HTMX = {"HTTP_HX_REQUEST": "true"}
GET_URLS = ["detail", "search", "settings", "delete", "export"]
EDIT_CONTROLS = ["Add sources", "Settings</a>", "Delete…", ">Retry<"]


def test_owner_sees_documents_failures_and_controls(client_for, owner, kb, documents):
    html = client_for(owner).get(reverse("kb:detail", args=[kb.pk])).content.decode()
    assert "Refund policy" in html and "scan.pdf" in html
    assert "No extractable text" in html and "no_text" in html
    assert "ready, with errors" in html
    for control in EDIT_CONTROLS:
        assert control in html, control
    assert 'data-polling="false"' in html and 'hx-trigger="every 2s"' not in html  # nothing unfinished
    assert "Retrieval test" in html and 'name="query"' in html


def test_documents_poll_only_while_unfinished(client_for, owner, kb, documents):
    Document.objects.create(kb=kb, source_type="text_input", name="New", status="embedding", progress=60)
    client = client_for(owner)
    html = client.get(reverse("kb:detail", args=[kb.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in html and "60%" in html
    partial = client.get(reverse("kb:detail", args=[kb.pk]), **HTMX).content.decode()
    assert "<html" not in partial and partial.lstrip().startswith('<section class="card" id="documents"')
    Document.objects.filter(name="New").update(status="ready", progress=100)
    partial = client.get(reverse("kb:detail", args=[kb.pk]), **HTMX).content.decode()
    assert 'hx-trigger="every 2s"' not in partial


def test_viewer_sees_no_edit_controls_and_cannot_post(client_for, viewer, kb, documents, no_enqueue):
    client = client_for(viewer)
    html = client.get(reverse("kb:detail", args=[kb.pk])).content.decode()
    for control in EDIT_CONTROLS:
        assert control not in html, control
    assert "Ask an editor to retry it" in html
    retry = reverse("kb:document_retry", args=[kb.pk, documents["failed"].pk])
    assert client.post(retry).status_code == 403
    assert client.post(reverse("kb:add_sources", args=[kb.pk])).status_code == 403
    assert client.get(reverse("kb:settings", args=[kb.pk])).status_code == 403
    assert client.post(reverse("kb:settings", args=[kb.pk]), {"name": "x"}).status_code == 403
    assert client.post(reverse("kb:delete", args=[kb.pk]), {"confirm_name": kb.name}).status_code == 403
    assert not no_enqueue and KnowledgeBase.objects.get(pk=kb.pk).name == "Product docs"


def test_editor_cannot_delete(client_for, member, kb):
    html = client_for(member).get(reverse("kb:detail", args=[kb.pk])).content.decode()
    assert "Add sources" in html and "Delete…" not in html
    assert client_for(member).get(reverse("kb:delete", args=[kb.pk])).status_code == 403


@pytest.mark.parametrize("name", GET_URLS)
def test_outsider_gets_404(client_for, outsider, kb, documents, name):
    assert client_for(outsider).get(reverse(f"kb:{name}", args=[kb.pk])).status_code == 404


def test_outsider_cannot_post(client_for, outsider, kb, documents, no_enqueue):
    client = client_for(outsider)
    assert client.post(reverse("kb:document_retry", args=[kb.pk, documents["failed"].pk])).status_code == 404
    assert client.post(reverse("kb:add_sources", args=[kb.pk])).status_code == 404
    assert client.post(reverse("kb:delete", args=[kb.pk]), {"confirm_name": kb.name}).status_code == 404
    assert KnowledgeBase.objects.filter(pk=kb.pk).exists() and not no_enqueue


def test_document_of_another_kb_is_404(client_for, owner, kb, documents, workspace):
    other = KnowledgeBase.objects.create(workspace=workspace, name="Other")
    url = reverse("kb:document_retry", args=[other.pk, documents["failed"].pk])
    assert client_for(owner).post(url).status_code == 404


def test_retry_requeues_the_failed_document(client_for, owner, kb, documents, no_enqueue):
    failed = documents["failed"]
    html = client_for(owner).post(reverse("kb:document_retry", args=[kb.pk, failed.pk]), **HTMX).content.decode()
    failed.refresh_from_db()
    assert failed.status == "queued" and failed.error == ""
    assert ("document", str(failed.pk)) in no_enqueue
    assert 'hx-trigger="every 2s"' in html  # now something is unfinished


def test_add_sources_goes_through_a_draft_targeting_the_kb(client_for, member, kb, documents):
    client = client_for(member)
    response = client.post(reverse("kb:add_sources", args=[kb.pk]))
    draft = KBDraft.objects.get(target_kb=kb)
    assert response["Location"] == reverse("drafts:sources", args=[draft.pk])
    page = client.get(reverse("drafts:chunking", args=[draft.pk])).content.decode()
    assert "chunked with its settings" in page and "fieldset disabled" in page
    assert "Unfinished additions" in client.get(reverse("kb:detail", args=[kb.pk])).content.decode()


def test_settings_update_name_and_description(client_for, member, kb):
    client = client_for(member)
    assert client.post(reverse("kb:settings", args=[kb.pk]), {"name": ""}).status_code == 400
    response = client.post(reverse("kb:settings", args=[kb.pk]), {"name": "Manuals", "description": "All of them"})
    assert response.status_code == 302
    kb.refresh_from_db()
    assert (kb.name, kb.description) == ("Manuals", "All of them")
    assert AuditEvent.objects.filter(event_type="knowledge_base", action="update", resource_id=str(kb.pk)).exists()


def test_delete_offers_an_export_and_needs_the_name(client_for, owner, kb, documents):
    client = client_for(owner)
    page = client.get(reverse("kb:delete", args=[kb.pk])).content.decode()
    assert reverse("kb:export", args=[kb.pk]) in page and "2 documents" in page
    wrong = client.post(reverse("kb:delete", args=[kb.pk]), {"confirm_name": "nope"})
    assert wrong.status_code == 400 and KnowledgeBase.objects.filter(pk=kb.pk).exists()
    response = client.post(reverse("kb:delete", args=[kb.pk]), {"confirm_name": kb.name})
    from privexbot.models import DeletionReceipt

    receipt = DeletionReceipt.objects.get(body__knowledge_base_id=str(kb.pk))
    assert response["Location"] == reverse("kb:receipt", args=[receipt.pk])  # lands on its deletion receipt
    assert not KnowledgeBase.objects.filter(pk=kb.pk).exists() and not Chunk.objects.exists()
    assert AuditEvent.objects.filter(event_type="knowledge_base", action="delete", resource_id=str(kb.pk)).exists()


def test_export_is_an_archive_download_of_documents_and_chunks(client_for, viewer, kb, documents):
    # The fixture's chunks as the pipeline leaves them: under the document's version, with their vectors.
    Document.objects.filter(pk=documents["ready"].pk).update(version=1)
    Chunk.objects.filter(document=documents["ready"]).update(embedding=[0.1] * 384)
    response = client_for(viewer).get(reverse("kb:export", args=[kb.pk]))
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="product-docs.pxkb.zip"'
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["knowledge_base"]["name"] == "Product docs" and manifest["counts"]["documents"] == 2
    by_name = {json.loads(archive.read(f"{d}/document.json"))["name"]: d for d in manifest["documents"]}
    chunks = [json.loads(line) for line in archive.read(f"{by_name['Refund policy']}/chunks.jsonl").splitlines()]
    assert [c["index"] for c in chunks] == [0, 1]
    assert "<script>" in chunks[1]["content"]  # data, never rendered as HTML
    assert f"{by_name['scan.pdf']}/chunks.jsonl" not in archive.namelist()  # failed: nothing indexed to carry
    assert AuditEvent.objects.filter(action="export", resource_id=str(kb.pk)).exists()


def test_names_and_errors_are_escaped(client_for, owner, kb, documents):
    kb.description = "<img src=x onerror=alert(1)>"
    kb.save()
    Document.objects.filter(pk=documents["failed"].pk).update(name="<script>x()</script>", error="<b hx-get='/'>e</b>")
    html = client_for(owner).get(reverse("kb:detail", args=[kb.pk])).content.decode()
    assert "<img src=x" not in html and "<script>x()" not in html and "<b hx-get" not in html
    assert "&lt;script&gt;x()&lt;/script&gt;" in html


def test_documents_partial_query_count_does_not_grow_with_documents(client_for, owner, kb, documents):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(owner)
    url = reverse("kb:detail", args=[kb.pk])
    client.get(url, **HTMX)  # warm the session and the content types
    with CaptureQueriesContext(connection) as few:
        client.get(url, **HTMX)
    Document.objects.bulk_create(
        Document(kb=kb, source_type="text_input", name=f"doc {i}", status="queued") for i in range(30)
    )
    with CaptureQueriesContext(connection) as many:
        client.get(url, **HTMX)
    assert len(many) == len(few) <= 12
