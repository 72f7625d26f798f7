"""Every state-changing request and every read of document data leaves an audit event with the caller's address."""

import io

import pytest

from privexbot.models import AuditEvent
from tests.api.conftest import TEXT

pytestmark = pytest.mark.django_db


def _since() -> int:
    """The newest event id so far: the audit table is append-only, so a test reads what came after it."""
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _events(since: int):
    events = AuditEvent.objects.filter(id__gt=since).order_by("timestamp", "id")
    return [(e.event_type, e.action, e.success) for e in events]


def test_draft_writes_are_audited(api, owner, workspace, no_enqueue):
    client = api(owner)
    since = _since()
    draft_id = client.post("/api/v1/kb-drafts/", {"name": "A", "workspace_id": str(workspace.pk)}).json()["draft_id"]
    base = f"/api/v1/kb-drafts/{draft_id}"
    f = io.BytesIO(b"Shipping takes three to five working days.\n" * 5)
    f.name = "shipping.txt"
    upload = client.post(f"{base}/sources/upload", {"file": f}, format="multipart").json()
    client.post(f"{base}/sources/text", {"title": "Refunds", "content": TEXT})
    client.post(f"{base}/sources/website", {"url": "http://127.0.0.1:9/", "crawl_config": {"max_pages": 2}})
    client.delete(f"{base}/sources/{upload['id']}")
    client.patch(f"{base}/config", {"chunking_config": {"chunk_size": 400, "chunk_overlap": 0}})
    kb_id = client.post(f"{base}/finalize").json()["kb_id"]
    other = client.post("/api/v1/kb-drafts/", {"name": "B", "workspace_id": str(workspace.pk)}).json()["draft_id"]
    client.delete(f"/api/v1/kb-drafts/{other}")
    assert _events(since) == [
        ("kb_draft", "create", True),
        ("kb_draft", "add_source", True),
        ("kb_draft", "add_source", True),
        ("kb_draft", "add_source", True),
        ("kb_draft", "remove_source", True),
        ("configuration", "update_draft_config", True),
        ("knowledge_base", "create", True),  # finalize creates the KB through kb.services like every door
        ("knowledge_base", "finalize_draft", True),
        ("kb_draft", "create", True),
        ("kb_draft", "deleted", True),
    ]
    assert set(AuditEvent.objects.filter(id__gt=since).values_list("ip_address", flat=True)) == {"127.0.0.1"}
    assert AuditEvent.objects.get(action="finalize_draft").resource_id == kb_id


def test_kb_writes_and_document_reads_are_audited(api, owner, ready_kb):
    client = api(owner)
    url = f"/api/v1/knowledge-bases/{ready_kb.pk}/"
    document_id = ready_kb.documents.get().pk
    since = _since()
    client.get(url)  # KB metadata only: not a document read
    client.get(url + "documents/")
    client.get(f"{url}documents/{document_id}/")
    client.get(url + "chunks/")
    client.post(url + "search", {"query": "refund", "mode": "keyword"})
    client.patch(url, {"description": "Refund rules"})
    client.post(f"{url}documents/{document_id}/reprocess")
    client.delete(f"{url}documents/{document_id}/")
    client.delete(url)
    assert _events(since) == [
        ("document_access", "list_documents", True),
        ("document_access", "read_document", True),
        ("document_access", "list_chunks", True),
        ("document_access", "search", True),
        ("knowledge_base", "update", True),
        ("document", "reprocess", True),
        ("document", "delete", True),
        ("knowledge_base", "delete", True),
    ]
    read = AuditEvent.objects.get(action="read_document")
    assert read.resource_id == str(document_id) and read.username == "owner" and read.ip_address == "127.0.0.1"
    search = AuditEvent.objects.get(action="search")
    assert search.details["query_chars"] == len("refund") and "query" not in search.details  # no query text kept
