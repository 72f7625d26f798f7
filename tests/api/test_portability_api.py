"""GET /api/v1/knowledge-bases/{id}/export and POST /api/v1/knowledge-bases/import: a round trip with bearer
tokens into another organization, the scopes each needs, the access funnel, and clear errors for bad archives."""

import io
import json
import zipfile

import pytest

from kb.models import Chunk, KnowledgeBase
from kb.search import chunk_search
from privexbot.metrics.definitions import DATA_EXPORTS, EMBEDDINGS
from privexbot.models import AuditEvent
from tenants.models import Workspace
from tests.api.conftest import error_of
from tests.conftest import make_tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def target(db):
    """A workspace of another organization and its owner."""
    return make_tenant("Initech")


def _download(client, kb, **params):
    response = client.get(f"/api/v1/knowledge-bases/{kb.pk}/export", params)
    assert response.status_code == 200, getattr(response, "content", b"")[:300]
    assert response["Content-Type"] == "application/zip"
    return b"".join(response.streaming_content)


def _upload(client, workspace, data: bytes, name="kb.pxkb.zip"):
    archive = io.BytesIO(data)
    archive.name = name
    return client.post(
        "/api/v1/knowledge-bases/import", {"workspace_id": str(workspace.pk), "archive": archive}, format="multipart"
    )


def test_round_trip_with_tokens_keeps_the_search_results(api, ready_kb, owner, target):
    workspace, other = target
    exports = DATA_EXPORTS.labels(door="api")._value.get()
    data = _download(api(owner, scopes=["read"]), ready_kb)
    assert DATA_EXPORTS.labels(door="api")._value.get() == exports + 1
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["counts"]["chunks"] == Chunk.objects.filter(kb=ready_kb).count()

    computed = EMBEDDINGS.labels(source="computed")._value.get()
    response = _upload(api(other, scopes=["write"]), workspace, data)
    assert response.status_code == 201, response.json()
    body = response.json()
    copy = KnowledgeBase.objects.get(pk=body["id"])
    assert body["workspace_id"] == str(workspace.pk) and body["summary"]["status"] == "ready"
    assert EMBEDDINGS.labels(source="computed")._value.get() == computed
    query = "how long do refunds take"
    before = [(r.content, round(r.score, 6)) for r in chunk_search(kb=ready_kb, query=query, mode="hybrid")]
    after = [(r.content, round(r.score, 6)) for r in chunk_search(kb=copy, query=query, mode="hybrid")]
    assert before and after == before
    event = AuditEvent.objects.get(event_type="knowledge_base", action="import", resource_id=str(copy.pk))
    assert event.details["door"] == "api" and event.details["ready_documents"] == 1
    assert AuditEvent.objects.filter(event_type="data_export", action="export", details__door="api").exists()


def test_export_without_files(api, ready_kb, owner):
    data = _download(api(owner, scopes=["read"]), ready_kb, include_files="false")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert not [n for n in zf.namelist() if "/original." in n]
    with zipfile.ZipFile(io.BytesIO(_download(api(owner), ready_kb))) as zf:
        assert [n for n in zf.namelist() if n.endswith("/original.txt")]
    error_of(api(owner).get(f"/api/v1/knowledge-bases/{ready_kb.pk}/export", {"include_files": "maybe"}), 400)


def test_scopes_export_needs_read_and_import_needs_write(api, ready_kb, owner, workspace):
    error_of(api(owner, scopes=["search"]).get(f"/api/v1/knowledge-bases/{ready_kb.pk}/export"), 403)
    data = _download(api(owner, scopes=["read"]), ready_kb)
    error_of(_upload(api(owner, scopes=["read"]), workspace, data), 403)
    limited = api(owner, scopes=["write"], kb_ids=[ready_kb.pk])
    error = error_of(_upload(limited, workspace, data), 403)
    assert "limited to some knowledge bases" in error["message"]
    assert KnowledgeBase.objects.count() == 1


def test_another_tenants_kb_and_workspace_are_404(api, ready_kb, outsider, owner):
    error_of(api(outsider).get(f"/api/v1/knowledge-bases/{ready_kb.pk}/export"), 404)
    data = _download(api(owner), ready_kb)
    outsider_workspace = Workspace.objects.get(memberships__user=outsider)
    error_of(_upload(api(owner), outsider_workspace, data), 404)
    assert not KnowledgeBase.objects.filter(workspace=outsider_workspace).exists()


def test_a_viewer_cannot_import(api, ready_kb, owner, viewer, workspace):
    data = _download(api(owner), ready_kb)
    error_of(_upload(api(viewer), workspace, data), 403)


def test_bad_archives_are_clear_errors_that_create_nothing(api, ready_kb, owner, target, settings):
    workspace, other = target
    client = api(other)
    data = _download(api(owner), ready_kb)
    tampered = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(tampered, "w") as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            dst.writestr(
                info.filename, body.replace(b"refund", b"REFUND") if info.filename.endswith(".jsonl") else body
            )
    error = error_of(_upload(client, workspace, tampered.getvalue()), 400)
    assert error["code"] == "tampered" and "sha256" in error["message"] and error["details"]["archive"]
    assert error_of(_upload(client, workspace, b"%PDF-1.4 not a zip", "x.pdf"), 415)["code"] == "unsupported_type"
    error_of(
        client.post("/api/v1/knowledge-bases/import", {"workspace_id": str(workspace.pk)}, format="multipart"), 400
    )
    settings.KB_ARCHIVE_MAX_SIZE = 100
    assert error_of(_upload(client, workspace, data), 413)["code"] == "too_large"
    assert not KnowledgeBase.objects.filter(workspace=workspace).exists()


def test_schema_documents_both_routes_with_their_scopes(api):
    schema = api().get("/api/v1/schema/", {"format": "json"}).json()
    export = schema["paths"]["/api/v1/knowledge-bases/{kb_id}/export"]["get"]
    imported = schema["paths"]["/api/v1/knowledge-bases/import"]["post"]
    assert export["x-required-scope"] == "read" and imported["x-required-scope"] == "write"
    assert "application/zip" in export["responses"]["200"]["content"]
    assert "multipart/form-data" in imported["requestBody"]["content"]
    assert {p["name"] for p in export["parameters"]} >= {"include_files", "kb_id"}
