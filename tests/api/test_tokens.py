"""API tokens: created by the command or the API, shown once, stored hashed, expiring, revocable, rotatable."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from privexbot.models import AuditEvent
from tenants.models import ApiToken
from tenants.tokens import api_token_create, api_token_rotate, hash_token
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db


def _bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_command_prints_the_token_once_and_stores_only_its_hash(owner):
    out, err = StringIO(), StringIO()
    call_command("create_api_token", "owner", "--expires-in", "30", "--name", "ci", stdout=out, stderr=err)
    token = out.getvalue().strip()
    assert token.startswith("pxb_") and len(token) > 40
    row = ApiToken.objects.get(user=owner)
    assert row.token_hash == hash_token(token) and token not in row.token_hash and row.name == "ci"
    assert token not in err.getvalue() and row.prefix in err.getvalue()
    assert timedelta(days=29.9) < row.expires_at - timezone.now() <= timedelta(days=30)
    assert _bearer(token).get("/api/v1/workspaces/").status_code == 200
    with pytest.raises(CommandError):
        call_command("create_api_token", "nobody", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError):
        call_command("create_api_token", "owner", "--expires-in", "0", stdout=StringIO(), stderr=StringIO())


def test_command_takes_scopes_kbs_and_keeps_to_the_maximum_lifetime(owner, kb, settings):
    settings.API_TOKEN_MAX_DAYS = 10
    out = StringIO()
    call_command("create_api_token", "owner", "--scope", "search", "--kb", str(kb.pk), stdout=out, stderr=StringIO())
    row = ApiToken.objects.get(token_hash=hash_token(out.getvalue().strip()))
    assert (row.scopes, row.kb_ids) == (["search"], [kb.pk])
    assert timedelta(days=9.9) < row.expires_at - timezone.now() <= timedelta(days=10)  # the default: the maximum
    with pytest.raises(CommandError, match="at most 10 days"):
        call_command("create_api_token", "owner", "--expires-in", "11", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="API_TOKEN_ALLOW_NEVER_EXPIRES"):
        call_command("create_api_token", "owner", "--never-expires", stdout=StringIO(), stderr=StringIO())


def test_an_api_token_defaults_to_read_and_the_maximum_lifetime(api, owner, settings):
    settings.API_TOKEN_MAX_DAYS = 90
    body = api(owner).post("/api/v1/tokens/", {"name": "bot"}).json()
    assert (body["scopes"], body["scope"], body["kb_ids"], body["created_by_token_id"] is not None) == (
        ["read"], "read", [], True
    )  # fmt: skip
    row = ApiToken.objects.get(pk=body["id"])
    assert timedelta(days=89.9) < row.expires_at - timezone.now() <= timedelta(days=90)


def test_expired_and_revoked_tokens_are_rejected(owner):
    row, token = api_token_create(user=owner, expires_in_days=1)
    assert _bearer(token).get("/api/v1/workspaces/").status_code == 200
    ApiToken.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    error = error_of(_bearer(token).get("/api/v1/workspaces/"), 401)
    assert error["code"] == "authentication_failed"

    row, token = api_token_create(user=owner, scopes=["admin"])  # keys are managed with the admin scope
    client = _bearer(token)
    listed = client.get("/api/v1/tokens/").json()
    assert {t["id"]: t["status"] for t in listed}[str(row.pk)] == "active"
    assert "token" not in listed[0] and "token_hash" not in listed[0]
    assert client.delete(f"/api/v1/tokens/{row.pk}/").status_code == 204
    error_of(client.get("/api/v1/workspaces/"), 401)
    assert ApiToken.objects.get(pk=row.pk).revoked_at is not None


def test_api_created_token_is_shown_once(api, owner):
    client = api(owner)
    created = client.post("/api/v1/tokens/", {"name": "deploy", "expires_in_days": 7})
    assert created.status_code == 201
    body = created.json()
    assert body["token"].startswith(body["prefix"]) and body["status"] == "active"
    assert all("token" not in t for t in client.get("/api/v1/tokens/").json())
    assert _bearer(body["token"]).get("/api/v1/workspaces/").status_code == 200
    assert "expires_in_days" in error_of(client.post("/api/v1/tokens/", {"expires_in_days": 0}), 400)["details"]


def test_rotation_keeps_the_old_token_for_the_grace_period(api, owner, settings):
    settings.API_TOKEN_ROTATION_GRACE = 3600
    old_row, old = api_token_create(user=owner, name="bot", scopes=["admin"], expires_in_days=90)
    rotated = _bearer(old).post(f"/api/v1/tokens/{old_row.pk}/rotate")
    assert rotated.status_code == 201
    new = rotated.json()["token"]
    assert new != old and rotated.json()["name"] == "bot"
    new_row = ApiToken.objects.get(pk=rotated.json()["id"])
    assert timedelta(days=89.9) < new_row.expires_at - timezone.now() <= timedelta(days=90)  # same lifetime
    old_row.refresh_from_db()
    assert timedelta(minutes=59) < old_row.expires_at - timezone.now() <= timedelta(hours=1)
    assert _bearer(old).get("/api/v1/workspaces/").status_code == 200  # still valid during the grace period
    assert _bearer(new).get("/api/v1/workspaces/").status_code == 200
    ApiToken.objects.filter(pk=old_row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))  # grace over
    error_of(_bearer(old).get("/api/v1/workspaces/"), 401)
    assert _bearer(new).get("/api/v1/workspaces/").status_code == 200
    actions = list(AuditEvent.objects.filter(event_type="api_token").values_list("action", flat=True))
    assert sorted(actions) == ["create", "rotate"]


def test_rotation_never_extends_an_expiry_and_a_zero_grace_ends_the_old_token_now(owner):
    row, old = api_token_create(user=owner, expires_in_days=1)
    ApiToken.objects.filter(pk=row.pk).update(expires_at=timezone.now() + timedelta(minutes=5))
    api_token_rotate(token=row, grace_seconds=86400)
    row.refresh_from_db()
    assert row.expires_at - timezone.now() <= timedelta(minutes=5)
    other, token = api_token_create(user=owner)
    api_token_rotate(token=other, grace_seconds=0)
    error_of(_bearer(token).get("/api/v1/workspaces/"), 401)


def test_tokens_of_other_users_are_invisible(api, owner, member):
    row, _ = api_token_create(user=owner)
    client = api(member)
    assert str(row.pk) not in {t["id"] for t in client.get("/api/v1/tokens/").json()}
    error_of(client.delete(f"/api/v1/tokens/{row.pk}/"), 404)
    error_of(client.post(f"/api/v1/tokens/{row.pk}/rotate"), 404)
    row.refresh_from_db()
    assert row.revoked_at is None
