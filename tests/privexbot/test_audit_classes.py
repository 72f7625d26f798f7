"""One test per event class of the guide's "Audit Logging" (authentication, document access, document
modification, permission change, data export, system configuration change, KB configuration change), each
through a real door, each asserting its row in the guide's log format (11 fields); and search queries are
recorded as a keyed hash, never as text."""

import csv
import io
import json
from datetime import datetime

import pytest
from django.core.management import call_command
from django.urls import reverse

from privexbot.audit import query_fingerprint
from privexbot.audit.export import audit_events, export_lines
from privexbot.models import AuditEvent
from tests.api.conftest import api, ready_kb  # noqa: F401  (shared fixtures)
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

GUIDE_FIELDS = (
    "timestamp", "event_type", "user_id", "organization_id", "workspace_id", "resource_id",
    "action", "ip_address", "user_agent", "success", "details",
)  # fmt: skip
AGENT = {"HTTP_USER_AGENT": "pytest-audit-agent"}


def _line(event: AuditEvent) -> dict:
    """The event as the export writes it: the guide's format (plus id and chain hashes)."""
    (text,) = list(export_lines(AuditEvent.objects.filter(pk=event.pk), "jsonl"))
    return json.loads(text)


def assert_guide_format(event: AuditEvent, *, absent: tuple[str, ...] = ()) -> dict:
    """All 11 fields are present; each has a value unless the event class has none for it (`absent`)."""
    line = _line(event)
    assert set(GUIDE_FIELDS) <= set(line)
    datetime.fromisoformat(line["timestamp"])
    assert isinstance(line["success"], bool) and isinstance(line["details"], dict)
    for name in GUIDE_FIELDS:
        if name in absent:
            assert line[name] in (None, ""), name
        elif name not in ("success", "details"):
            assert line[name] not in (None, ""), name
    return line


def _only(**filters) -> AuditEvent:
    return AuditEvent.objects.get(**filters)


def test_authentication(client, owner):
    client.post(reverse("login"), {"username": "owner", "password": PASSWORD}, **AGENT)
    line = assert_guide_format(
        _only(event_type="authentication", action="login"), absent=("organization_id", "workspace_id", "resource_id")
    )
    assert line["user_id"] == owner.pk and line["ip_address"] == "127.0.0.1" and line["success"] is True


def test_failed_token_authentication_is_one_event_per_failure(api):  # noqa: F811
    client = api()
    client.credentials(HTTP_AUTHORIZATION="Bearer pxb_not-a-real-token")
    for _ in range(2):
        assert client.get("/api/v1/workspaces/", **AGENT).status_code == 401
    events = AuditEvent.objects.filter(event_type="auth", action="token_failed")
    assert events.count() == 2 and not events.filter(success=True).exists()
    line = assert_guide_format(events.first(), absent=("user_id", "organization_id", "workspace_id", "resource_id"))
    assert "pxb_not-a-real-token" not in json.dumps(line)  # never the presented secret


def test_document_access(api, owner, ready_kb):  # noqa: F811
    document = ready_kb.documents.get()
    api(owner).get(f"/api/v1/knowledge-bases/{ready_kb.pk}/documents/{document.pk}/", **AGENT)
    line = assert_guide_format(_only(event_type="document_access", action="read_document"))
    assert line["resource_id"] == str(document.pk) and line["workspace_id"] == str(ready_kb.workspace_id)
    assert line["organization_id"] == str(ready_kb.workspace.organization_id)


def test_document_modification(api, owner, ready_kb):  # noqa: F811
    document = ready_kb.documents.get()
    assert (
        api(owner).delete(f"/api/v1/knowledge-bases/{ready_kb.pk}/documents/{document.pk}/", **AGENT).status_code == 204
    )
    line = assert_guide_format(_only(event_type="document", action="delete"))
    assert line["resource_id"] == str(document.pk) and line["user_id"] == owner.pk


def test_permission_change(api, owner, member, workspace):  # noqa: F811
    url = f"/api/v1/workspaces/{workspace.pk}/members/{member.pk}/"
    assert api(owner).patch(url, {"role": "viewer"}, format="json", **AGENT).status_code == 200
    line = assert_guide_format(_only(event_type="membership", action="role_change"))
    assert line["details"]["after"] == {"role": "viewer"} and line["workspace_id"] == str(workspace.pk)


def test_data_export(client_for, owner, kb):
    client = client_for(owner)
    response = client.get(reverse("kb:export", args=[kb.pk]), **AGENT)
    b"".join(response.streaming_content)
    line = assert_guide_format(_only(event_type="data_export", action="export"))
    assert line["resource_id"] == str(kb.pk)


def test_system_configuration_change():
    call_command("rotate_keys", stdout=io.StringIO())  # a command: no user, no request, no workspace
    assert_guide_format(
        _only(event_type="encryption", action="rotate_keys"),
        absent=("user_id", "organization_id", "workspace_id", "resource_id", "ip_address", "user_agent"),
    )


def test_kb_configuration_change(api, owner, ready_kb):  # noqa: F811
    api(owner).patch(f"/api/v1/knowledge-bases/{ready_kb.pk}/", {"description": "Refund rules"}, format="json", **AGENT)
    line = assert_guide_format(_only(event_type="knowledge_base", action="update"))
    assert line["details"]["fields"] == ["description"] and line["resource_id"] == str(ready_kb.pk)


def test_search_queries_are_recorded_as_a_keyed_hash_never_as_text(api, client_for, owner, ready_kb):  # noqa: F811
    query = "how do refunds of damaged parcels work"
    api(owner).post(f"/api/v1/knowledge-bases/{ready_kb.pk}/search", {"query": query, "mode": "keyword"}, **AGENT)
    client_for(owner).get(
        reverse("kb:search", args=[ready_kb.pk]), {"query": query, "mode": "keyword", "top_k": 5}, **AGENT
    )
    call_command(
        "search", "--user", "owner", "--kb", str(ready_kb.pk), query, "--mode", "keyword", stdout=io.StringIO()
    )
    searches = list(AuditEvent.objects.filter(action="search").order_by("id"))
    assert len(searches) == 3  # API, retrieval panel, command
    expected = query_fingerprint(query, mode="keyword")
    for event in searches:
        assert_guide_format(
            event, absent=("ip_address", "user_agent") if event.details.get("door") == "command" else ()
        )
        assert {k: event.details[k] for k in expected} == expected
        assert "damaged parcels" not in json.dumps(event.details)
    assert expected["query_hmac"] != query_fingerprint(query + "!", mode="keyword")["query_hmac"]
    for fmt in ("jsonl", "csv"):  # and no export of the log carries it either
        assert "damaged parcels" not in "".join(export_lines(audit_events(), fmt))


def test_chunk_previews_are_document_reads(api, owner, workspace):  # noqa: F811
    from drafts.services import draft_create, draft_source_add_text
    from tests.api.conftest import TEXT

    draft = draft_create(workspace=workspace, user=owner, name="Preview", description="")
    draft_source_add_text(draft=draft, user=owner, title="Refunds", content=TEXT)
    response = api(owner).post(f"/api/v1/kb-drafts/{draft.pk}/preview-chunks", {}, format="json", **AGENT)
    assert response.status_code == 200 and response.json()["chunks"]
    line = assert_guide_format(_only(event_type="document_access", action="preview_chunks"))
    assert line["resource_id"] == str(draft.pk) and line["details"]["shown"] == len(response.json()["chunks"])
    assert TEXT[:30] not in json.dumps(line)  # counts only, never the chunk text


def test_audit_export_api_is_scoped_to_the_workspace_and_itself_audited(api, owner, outsider, workspace):  # noqa: F811
    from privexbot.audit import audit_record

    audit_record(event_type="document_access", action="read", workspace=workspace, resource="mine")
    audit_record(event_type="document_access", action="read", resource="someone-else")
    client = api(owner)
    response = client.get("/api/v1/audit/", {"workspace_id": str(workspace.pk), "format": "csv"}, **AGENT)
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["resource_id"] for r in rows] == ["mine"]
    jsonl = client.get(
        "/api/v1/audit/", {"workspace_id": str(workspace.pk), "event_type": "data_export", "from": "2000-01-01"}
    )
    lines = [json.loads(text) for text in b"".join(jsonl.streaming_content).decode().splitlines()]
    assert [(e["event_type"], e["action"]) for e in lines] == [("data_export", "audit_export")]  # the first download
    assert api(outsider).get("/api/v1/audit/", {"workspace_id": str(workspace.pk)}).status_code == 404
    assert api(owner, scopes=["read"]).get("/api/v1/audit/", {"workspace_id": str(workspace.pk)}).status_code == 403
    assert client.get("/api/v1/audit/").status_code == 400  # only staff export the whole installation
    assert client.get("/api/v1/audit/", {"workspace_id": str(workspace.pk), "from": "yesterday"}).status_code == 400


def test_audit_page_lists_and_downloads_the_workspace_events(client_for, owner, viewer, workspace):
    from privexbot.audit import audit_record

    audit_record(event_type="membership", action="role_change", workspace=workspace, resource="m-1")
    url = reverse("workspace_audit", args=[workspace.pk])
    page = client_for(owner).get(url)
    assert page.status_code == 200 and "role_change" in page.content.decode()
    download = client_for(owner).get(url, {"download": "1", "format": "jsonl"})
    assert download["Content-Disposition"].startswith('attachment; filename="audit-workspace-')
    assert any(json.loads(x)["action"] == "role_change" for x in b"".join(download.streaming_content).splitlines())
    assert client_for(viewer).get(url).status_code == 403  # owners and admins only


def test_audit_export_command_writes_the_selected_events(tmp_path, workspace):
    from privexbot.audit import audit_record

    audit_record(event_type="auth", action="login", workspace=workspace)
    audit_record(event_type="membership", action="remove", workspace=workspace)
    out = tmp_path / "audit.csv"
    call_command("audit_export", "--event-type", "membership", "--format", "csv", "-o", str(out), stderr=io.StringIO())
    rows = list(csv.DictReader(out.open()))
    assert [(r["event_type"], r["action"]) for r in rows] == [("membership", "remove")]
    assert AuditEvent.objects.filter(event_type="data_export", action="audit_export").exists()


def test_admin_actions_are_audited_with_the_callers_address(client, owner):
    from django.contrib.auth import get_user_model

    from tenants.tokens import api_token_create

    token, _ = api_token_create(user=owner, name="to be revoked by staff", scopes=["read"])
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    url = reverse("admin:tenants_apitoken_delete", args=[token.pk])
    assert client.post(url, {"post": "yes"}, **AGENT).status_code == 302
    event = _only(event_type="admin", action="delete")
    line = assert_guide_format(event, absent=("organization_id", "workspace_id"))
    assert (line["user_id"], line["resource_id"], event.resource_type) == (root.pk, str(token.pk), "tenants.apitoken")
    assert line["ip_address"] == "127.0.0.1" and line["user_agent"] == AGENT["HTTP_USER_AGENT"]
    assert "to be revoked" not in json.dumps(line)  # the object's text never goes in
