"""API keys a chatbot can hold: the creation rules (scope, KBs, lifetime, what a key may create), rotation and
revocation, keys of removed or deactivated members, drafts under a KB limit, the per-address lockout, and the
scopes in the OpenAPI schema."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from drafts.services import draft_create
from kb.models import KnowledgeBase
from privexbot.errors import ServiceError
from privexbot.metrics.definitions import LOCKOUTS
from privexbot.models import AuditEvent
from tenants.models import ApiToken, Membership
from tenants.tokens import api_token_create, api_token_revoke, api_token_rotate
from tests.api.conftest import TEXT, error_of

pytestmark = pytest.mark.django_db


def _bearer(token: str, address: str = "127.0.0.1") -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def kb_b(workspace, owner):
    return KnowledgeBase.objects.create(workspace=workspace, name="Internal notes", created_by=owner)


def _days_left(row) -> float:
    return (row.expires_at - timezone.now()) / timedelta(days=1)


# ---------------------------------------------------------------- what a key may create
def test_a_one_day_key_cannot_create_a_longer_wider_or_unlimited_key(owner, kb, kb_b):
    parent, token = api_token_create(user=owner, scopes=["admin"], kb_ids=[kb.pk], expires_in_days=1)
    client = _bearer(token)
    refusals = {
        "expires_in_days": {"expires_in_days": 30},
        "kb_ids": {"kb_ids": [str(kb_b.pk)], "expires_in_days": 1},
    }
    for field, body in refusals.items():
        error = error_of(client.post("/api/v1/tokens/", body), 403)
        assert error["code"] == "forbidden" and field in error["details"], (field, error)
    assert "no later" in error_of(client.post("/api/v1/tokens/", refusals["expires_in_days"]), 403)["message"]
    assert ApiToken.objects.filter(user=owner).count() == 1  # nothing was created

    created = client.post("/api/v1/tokens/", {"name": "bot", "scopes": ["search"], "expires_in_days": 1})
    assert created.status_code == 201, created.content
    child = ApiToken.objects.get(pk=created.json()["id"])
    assert child.created_by_token_id == parent.pk and child.scopes == ["search"]
    assert child.kb_ids == [kb.pk]  # a KB-limited key makes KB-limited keys: its list by default
    assert child.expires_at <= parent.expires_at
    defaulted = ApiToken.objects.get(pk=client.post("/api/v1/tokens/", {}).json()["id"])
    assert defaulted.expires_at <= parent.expires_at and defaulted.kb_ids == [kb.pk]  # never past its creator
    event = AuditEvent.objects.filter(event_type="api_token", action="create", resource_id=str(child.pk)).get()
    assert event.details["created_by_token"] == str(parent.pk) and event.details["after"]["scopes"] == ["search"]


def test_only_an_admin_key_makes_keys_and_never_a_wider_one(owner, kb):
    """search/read/write keys are a chatbot's: they never make, list, revoke or rotate keys (the issue: admin is
    "tokens and members"); the service refuses a wider child even where the route would let it through."""
    for scope in ("search", "read", "write"):
        _, token = api_token_create(user=owner, scopes=[scope], expires_in_days=1)
        error = error_of(_bearer(token).post("/api/v1/tokens/", {"scopes": ["search"]}), 403)
        assert error["message"] == f"This API key has the '{scope}' scope; this route needs the 'admin' scope."
    reader, _ = api_token_create(user=owner, scopes=["read"], expires_in_days=1)
    with pytest.raises(ServiceError, match="cannot create a key with 'write'"):
        api_token_create(user=owner, scopes=["write"], expires_in_days=1, by_token=reader)


def test_kb_ids_must_be_readable_and_an_unlimited_key_may_limit(owner, kb, outsider):
    from tenants.models import Organization, Workspace

    other_ws = Workspace.objects.create(organization=Organization.objects.create(name="Initech"), name="Their")
    theirs = KnowledgeBase.objects.create(workspace=other_ws, name="Not yours", created_by=outsider)
    _, token = api_token_create(user=owner, scopes=["admin"])
    error = error_of(_bearer(token).post("/api/v1/tokens/", {"kb_ids": [str(theirs.pk)]}), 400)
    assert error["details"]["kb_ids"] == [f"knowledge base {theirs.pk} not found"]  # like one that does not exist
    created = _bearer(token).post("/api/v1/tokens/", {"kb_ids": [str(kb.pk)], "scopes": ["search"]})
    assert created.status_code == 201 and created.json()["kb_ids"] == [str(kb.pk)]


def test_lifetime_default_maximum_and_never(owner, settings):
    settings.API_TOKEN_MAX_DAYS = 30
    row, _ = api_token_create(user=owner)
    assert 29.99 < _days_left(row) <= 30 and row.scopes == ["read"]  # default: the maximum, read
    _, session_free = api_token_create(user=owner, scopes=["admin"])
    client = _bearer(session_free)
    assert "at most 30 days" in error_of(client.post("/api/v1/tokens/", {"expires_in_days": 31}), 400)["message"]
    error = error_of(client.post("/api/v1/tokens/", {"never_expires": True}), 400)
    assert "API_TOKEN_ALLOW_NEVER_EXPIRES" in error["details"]["never_expires"][0]

    settings.API_TOKEN_ALLOW_NEVER_EXPIRES = True
    # still refused through an expiring key: its keys must expire too
    error_of(client.post("/api/v1/tokens/", {"never_expires": True}), 403)
    forever, _ = api_token_create(user=owner, never_expires=True)
    assert forever.expires_at is None


def test_a_key_manages_only_the_keys_inside_it(owner, kb):
    wide, wide_token = api_token_create(user=owner, scopes=["admin"])
    narrow, narrow_token = api_token_create(user=owner, scopes=["admin"], kb_ids=[kb.pk], expires_in_days=1)
    client = _bearer(narrow_token)
    assert [t["id"] for t in client.get("/api/v1/tokens/").json()] == [str(narrow.pk)]
    error_of(client.delete(f"/api/v1/tokens/{wide.pk}/"), 404)
    error_of(client.post(f"/api/v1/tokens/{wide.pk}/rotate"), 404)
    wide.refresh_from_db()
    assert wide.revoked_at is None
    listed = {t["id"] for t in _bearer(wide_token).get("/api/v1/tokens/").json()}
    assert listed == {str(wide.pk), str(narrow.pk)}


# ---------------------------------------------------------------- rotation and revocation
def test_rotation_keeps_scopes_and_kbs_and_a_key_cannot_extend_itself(owner, kb, settings):
    row, _ = api_token_create(user=owner, name="bot", scopes=["admin"], kb_ids=[kb.pk], expires_in_days=3)
    by_session, token = api_token_rotate(token=row, grace_seconds=0)
    assert (by_session.scopes, by_session.kb_ids, by_session.name) == (["admin"], [kb.pk], "bot")
    assert 2.99 < _days_left(by_session) <= 3  # the browser (or admin) renews with the same lifetime

    ApiToken.objects.filter(pk=by_session.pk).update(expires_at=timezone.now() + timedelta(hours=2))
    rotated = _bearer(token).post(f"/api/v1/tokens/{by_session.pk}/rotate")
    assert rotated.status_code == 201, rotated.content
    new = ApiToken.objects.get(pk=rotated.json()["id"])
    assert (new.scopes, new.kb_ids, new.name) == (["admin"], [kb.pk], "bot")
    assert new.expires_at <= timezone.now() + timedelta(hours=2)  # rotating itself replaces the secret only

    settings.API_TOKEN_MAX_DAYS = 2
    ApiToken.objects.filter(pk=new.pk).update(expires_at=None)  # as an old key that never expires
    new.refresh_from_db()
    capped, _ = api_token_rotate(token=new, grace_seconds=0)
    assert 1.99 < _days_left(capped) <= 2  # today's maximum applies


def test_revoking_a_key_revokes_every_key_it_created(owner):
    parent, token = api_token_create(user=owner, scopes=["admin"])
    child = ApiToken.objects.get(pk=_bearer(token).post("/api/v1/tokens/", {"scopes": ["read"]}).json()["id"])
    grandchild, grandchild_token = api_token_create(user=owner, scopes=["search"], by_token=child)
    api_token_revoke(token=parent, user=owner)
    assert ApiToken.objects.filter(pk__in=[child.pk, grandchild.pk], revoked_at__isnull=True).count() == 0
    error_of(_bearer(grandchild_token).post("/api/v1/tokens/"), 401)
    events = AuditEvent.objects.filter(event_type="api_token", action="revoke")
    assert {e.details["because_of"] for e in events} == {None, str(parent.pk)}
    assert events.count() == 3


# ---------------------------------------------------------------- members, roles, sessions
def test_a_key_of_a_removed_member_reaches_nothing_and_of_a_deactivated_one_is_rejected(member, workspace, kb):
    _, token = api_token_create(user=member, scopes=["search"])
    search = f"/api/v1/knowledge-bases/{kb.pk}/search"
    body = {"query": "refund", "mode": "keyword"}
    assert _bearer(token).post(search, body).status_code == 200
    Membership.objects.filter(user=member, workspace=workspace).delete()
    error_of(_bearer(token).post(search, body), 404)
    error_of(_bearer(token).get(f"/api/v1/knowledge-bases/{kb.pk}/"), 403)  # scope first: search only
    member.is_active = False
    member.save()
    error_of(_bearer(token).post(search, body), 401)


def test_a_key_never_exceeds_its_role(viewer, kb):
    _, token = api_token_create(user=viewer, scopes=["admin"])
    error_of(_bearer(token).patch(f"/api/v1/knowledge-bases/{kb.pk}/", {"name": "x"}), 403)
    assert _bearer(token).get(f"/api/v1/knowledge-bases/{kb.pk}/").status_code == 200


def test_a_kb_limited_admin_key_never_manages_the_workspace(owner, workspace, kb):
    _, limited = api_token_create(user=owner, scopes=["admin"], kb_ids=[kb.pk])
    _, unlimited = api_token_create(user=owner, scopes=["admin"])
    body = {"email": "new@example.com", "role": "viewer"}
    refused = error_of(_bearer(limited).post(f"/api/v1/workspaces/{workspace.pk}/invitations/", body), 403)
    assert "limited to some knowledge bases" in refused["message"]
    assert _bearer(limited).post(f"/api/v1/knowledge-bases/{kb.pk}/search", {"query": "x"}).status_code == 200
    assert _bearer(unlimited).post(f"/api/v1/workspaces/{workspace.pk}/invitations/", body).status_code == 201


def test_a_browser_session_is_limited_by_its_role_only(owner, kb):
    client = APIClient()
    client.force_login(owner)
    assert client.patch(f"/api/v1/knowledge-bases/{kb.pk}/", {"name": "Renamed"}).status_code == 200
    _, token = api_token_create(user=owner, scopes=["read"])
    error = error_of(_bearer(token).patch(f"/api/v1/knowledge-bases/{kb.pk}/", {"name": "x"}), 403)
    assert error["message"] == "This API key has the 'read' scope; this route needs the 'write' scope."


def test_drafts_under_a_kb_limit(owner, workspace, kb, kb_b):
    for_a = draft_create(workspace=workspace, user=owner, name="More for A", target_kb=kb)
    for_b = draft_create(workspace=workspace, user=owner, name="More for B", target_kb=kb_b)
    _, limited = api_token_create(user=owner, scopes=["write"], kb_ids=[kb.pk])
    client = _bearer(limited)
    assert client.get(f"/api/v1/kb-drafts/{for_a.pk}").status_code == 200
    error_of(client.get(f"/api/v1/kb-drafts/{for_b.pk}"), 404)
    text = {"title": "T", "content": TEXT}
    assert client.post(f"/api/v1/kb-drafts/{for_a.pk}/sources/text", text).status_code == 200
    error = error_of(client.post("/api/v1/kb-drafts/", {"name": "N", "workspace_id": str(workspace.pk)}), 403)
    assert "cannot create knowledge bases" in error["message"]
    _, reader = api_token_create(user=owner, scopes=["read"])
    error_of(_bearer(reader).post(f"/api/v1/kb-drafts/{for_a.pk}/sources/text", text), 403)  # writes need write


# ---------------------------------------------------------------- lockout per address
def test_repeated_bad_tokens_from_one_address_lock_it_out(owner, settings):
    settings.API_TOKEN_FAILURE_LIMIT = 3
    settings.API_TOKEN_FAILURE_WINDOW = 2
    _, good = api_token_create(user=owner)
    locked_before = LOCKOUTS.labels(channel="api_token")._value.get()
    for _ in range(3):
        error_of(_bearer("pxb_wrong", "10.9.8.7").get("/api/v1/workspaces/"), 401)
    response = _bearer("pxb_wrong", "10.9.8.7").get("/api/v1/workspaces/")
    error = error_of(response, 429)
    assert error["code"] == "locked_out" and 1 <= int(response["Retry-After"]) <= 2
    refused = _bearer(good, "10.9.8.7").get("/api/v1/workspaces/")  # the right key too, until the cool-down
    assert refused.status_code == 429 and refused["Retry-After"]
    assert _bearer(good, "10.9.8.8").get("/api/v1/workspaces/").status_code == 200  # another address
    session = APIClient(REMOTE_ADDR="10.9.8.7")
    session.force_login(owner)
    assert session.get("/api/v1/workspaces/").status_code == 200  # only bearer attempts are locked

    event = AuditEvent.objects.get(event_type="auth", action="lockout")
    assert event.success is False and event.ip_address == "10.9.8.7"
    assert event.details["channel"] == "api_token" and event.details["failures"] == 3
    assert LOCKOUTS.labels(channel="api_token")._value.get() == locked_before + 1

    time.sleep(int(response["Retry-After"]) + 0.2)
    assert _bearer(good, "10.9.8.7").get("/api/v1/workspaces/").status_code == 200


# ---------------------------------------------------------------- the schema documents the scopes
def test_schema_names_the_scope_of_each_route(api):
    paths = api().get("/api/v1/schema/", {"format": "json"}).json()["paths"]
    search = paths["/api/v1/knowledge-bases/{kb_id}/search"]["post"]
    assert search["x-required-scope"] == "search" and "`search`" in search["description"]
    assert paths["/api/v1/knowledge-bases/{kb_id}/"]["patch"]["x-required-scope"] == "write"
    assert paths["/api/v1/knowledge-bases/{kb_id}/"]["get"]["x-required-scope"] == "read"
    assert paths["/api/v1/kb-drafts/"]["post"]["x-required-scope"] == "write"
    assert paths["/api/v1/tokens/"]["post"]["x-required-scope"] == "admin"
    assert all("x-required-scope" in op for ops in paths.values() for op in ops.values())
