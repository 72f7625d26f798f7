"""MFA over the test client: enrolment and login with a code, the organization's "MFA required", the admin
behind the same login and MFA, an owner's MFA reset."""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import Client
from django.urls import reverse

from privexbot.models import AuditEvent
from tenants.identity.services import mfa_reset, organization_mfa_required_set
from tenants.tokens import api_token_create
from tests.conftest import PASSWORD
from tests.tenants.identity_helpers import (
    enrol_totp,
    fresh_ip,
    fresh_login_limits,  # noqa: F401  (used below)
    logged_in_client,
    post_login,
    reauthenticate,
    totp_code,
)

pytestmark = pytest.mark.usefixtures("fresh_login_limits")


def _require_mfa(org):
    org.mfa_required = True
    org.save(update_fields=["mfa_required"])


# ---------------------------------------------------------------- enrolment and login
def test_enrol_totp_then_login_asks_for_the_code(owner, django_capture_on_commit_callbacks):
    client = logged_in_client("owner")
    asked = client.get(reverse("mfa_activate_totp"))
    assert asked.status_code == 302 and asked["Location"].startswith(reverse("account_reauthenticate"))
    reauthenticate(client)
    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200 and b"Authenticator secret" in page.content
    secret = page.context["form"].secret
    wrong = client.post(reverse("mfa_activate_totp"), {"code": "000000" if totp_code(secret) != "000000" else "111111"})
    assert wrong.status_code == 200 and not Authenticator.objects.filter(user=owner).exists()
    with django_capture_on_commit_callbacks(execute=True):  # allauth signals the enrolment after commit
        assert client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret)}).status_code == 302
    assert Authenticator.objects.filter(user=owner, type=Authenticator.Type.TOTP).exists()
    assert Authenticator.objects.filter(user=owner, type=Authenticator.Type.RECOVERY_CODES).exists()
    assert AuditEvent.objects.filter(event_type="mfa", action="enrol", user=owner, details__type="totp").exists()
    assert b"On" in client.get(reverse("profile")).content

    fresh = Client(REMOTE_ADDR=fresh_ip())
    step = post_login(fresh, "owner", ip=fresh.defaults["REMOTE_ADDR"])
    assert step.status_code == 302 and step["Location"] == reverse("mfa_authenticate")
    assert fresh.get(reverse("home")).status_code == 302  # the password alone does not log in
    assert fresh.post(reverse("mfa_authenticate"), {"code": totp_code(secret)}).status_code == 302
    assert fresh.get(reverse("home")).status_code == 200


def test_a_wrong_code_at_login_is_refused_and_audited(owner):
    secret = enrol_totp(owner)
    client = Client(REMOTE_ADDR=fresh_ip())
    post_login(client, "owner", ip=client.defaults["REMOTE_ADDR"])
    bad = "000000" if totp_code(secret) != "000000" else "111111"
    assert client.post(reverse("mfa_authenticate"), {"code": bad}).status_code == 200
    assert client.get(reverse("home")).status_code == 302
    assert AuditEvent.objects.filter(action="mfa_failed", user=owner, success=False).exists()


def test_removing_the_authenticator_is_audited(owner):
    enrol_totp(owner)
    client = Client()
    client.force_login(owner)
    reauthenticate(client)
    assert client.post(reverse("mfa_deactivate_totp")).status_code == 302
    assert not Authenticator.objects.filter(user=owner, type=Authenticator.Type.TOTP).exists()
    assert AuditEvent.objects.filter(event_type="mfa", action="remove", user=owner).exists()


# ---------------------------------------------------------------- the organization's requirement
def test_mfa_required_member_without_mfa_reaches_only_enrolment(org, member, kb):
    _require_mfa(org)
    client = Client()
    client.force_login(member)
    enrol = reverse("mfa_activate_totp")
    for url in (reverse("home"), reverse("kb:detail", args=[kb.pk]), reverse("profile"), "/drafts/new/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == enrol, url
    assert client.get(enrol)["Location"].startswith(reverse("account_reauthenticate"))  # the path is open
    reauthenticate(client)
    assert client.get(enrol).status_code == 200
    htmx = client.get(reverse("kb:detail", args=[kb.pk]), HTTP_HX_REQUEST="true")
    assert htmx.status_code == 204 and htmx["HX-Redirect"] == enrol
    api = client.get("/api/v1/workspaces/")
    assert api.status_code == 403 and api.json()["error"]["code"] == "mfa_required"
    assert client.get("/health").status_code in (200, 503)
    assert client.post(reverse("logout")).status_code == 302


def test_mfa_required_does_not_block_api_tokens(org, member):
    _require_mfa(org)
    _, token = api_token_create(user=member, name="bot")
    response = Client().get("/api/v1/workspaces/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200


def test_a_bearer_header_does_not_smuggle_a_session_past_the_requirement(org, member):
    _require_mfa(org)
    client = Client()
    client.force_login(member)
    response = client.get(reverse("home"), HTTP_AUTHORIZATION="Bearer anything")
    assert response.status_code == 302 and response["Location"] == reverse("mfa_activate_totp")


def test_mfa_required_member_with_mfa_and_members_of_other_orgs_pass(org, member, outsider):
    _require_mfa(org)
    enrol_totp(member)
    client = Client()
    client.force_login(member)
    assert client.get(reverse("home")).status_code == 200
    client.force_login(outsider)  # Globex does not require MFA
    assert client.get(reverse("home")).status_code == 200


def test_mfa_required_blocks_the_admin_too(org, member):
    _require_mfa(org)
    member.is_staff = member.is_superuser = True
    member.save()
    client = Client()
    client.force_login(member)
    for url in ("/admin/", "/admin/tenants/organization/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == reverse("mfa_activate_totp"), url
    enrol_totp(member)
    assert client.get("/admin/").status_code == 200


def test_admin_sends_anonymous_visitors_to_the_app_login(db):
    response = Client().get("/admin/", follow=True)
    assert response.redirect_chain[-1][0] == reverse("login") + "?next=%2Fadmin%2F"
    assert b'<label for="id_username">Username</label>' in response.content


def test_admin_refuses_a_logged_in_user_who_is_not_staff(member):
    client = Client()
    client.force_login(member)
    assert client.get("/admin/login/").status_code == 403


def test_admin_login_with_mfa_needs_the_code(owner):
    owner.is_staff = owner.is_superuser = True
    owner.save()
    secret = enrol_totp(owner)
    client = Client(REMOTE_ADDR=fresh_ip())
    login_page = client.get("/admin/", follow=True)
    next_url = login_page.context["redirect_field_value"]
    step = client.post(reverse("login"), {"username": "owner", "password": PASSWORD, "next": next_url})
    assert step["Location"].startswith(reverse("mfa_authenticate"))
    assert client.get("/admin/").status_code == 302
    done = client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    assert done.status_code == 302 and done["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


# ---------------------------------------------------------------- services an owner's pages call
def test_owner_switches_mfa_required_audited_with_before_and_after(org, owner, member, outsider):
    organization_mfa_required_set(organization=org, required=True, user=owner)
    org.refresh_from_db()
    assert org.mfa_required is True
    event = AuditEvent.objects.get(action="mfa_required_set")
    assert event.details == {"before": {"mfa_required": False}, "after": {"mfa_required": True}}
    assert event.organization_id == org.pk
    with pytest.raises(PermissionDenied):
        organization_mfa_required_set(organization=org, required=False, user=member)
    with pytest.raises(Http404):
        organization_mfa_required_set(organization=org, required=False, user=outsider)
    org.refresh_from_db()
    assert org.mfa_required is True


def test_owner_resets_a_members_mfa_and_their_sessions_end(org, owner, member):
    enrol_totp(member)
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes

    RecoveryCodes.activate(member)
    session = logged_in_client("member")
    assert session.get(reverse("home")).status_code == 302  # logging in with MFA stops at the code step
    session = Client()
    session.force_login(member)
    assert session.get(reverse("home")).status_code == 200
    assert mfa_reset(actor=owner, user=member, organization=org) == 2
    assert not Authenticator.objects.filter(user=member).exists()
    assert session.get(reverse("home")).status_code == 302  # the member's session ended at once
    event = AuditEvent.objects.get(event_type="mfa", action="reset")
    assert event.user == owner and event.resource_id == str(member.pk)
    assert event.details["before"] == {"authenticators": ["recovery_codes", "totp"]}
    assert event.details["after"] == {"authenticators": []}


def test_only_an_owner_of_that_organization_may_reset_mfa(org, owner, member, viewer, outsider):
    enrol_totp(viewer)
    with pytest.raises(PermissionDenied):
        mfa_reset(actor=member, user=viewer, organization=org)  # an editor
    with pytest.raises(Http404):
        mfa_reset(actor=outsider, user=viewer, organization=org)  # another organization's owner
    with pytest.raises(Http404):
        mfa_reset(actor=owner, user=outsider, organization=org)  # not a member of this organization
    assert Authenticator.objects.filter(user=viewer).exists()
    assert not AuditEvent.objects.filter(event_type="mfa", action="reset").exists()
