"""Invitations: the email and its link, single use, expiry, the invited address only, replace/resend/revoke, the
accept page for an existing and a new account — each change audited with before/after."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from privexbot.errors import ServiceError
from privexbot.models import AuditEvent
from tenants import invitations as inv
from tenants.models import Invitation, Membership, Role
from tests.conftest import PASSWORD, make_user


@pytest.fixture(autouse=True)
def locmem_email(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://kb.example.com"
    mail.outbox.clear()


def _link_token(message) -> str:
    match = re.search(r"https://kb\.example\.com/invitations/([\w-]+)/", message.body)
    assert match, message.body
    return match.group(1)


def invite(workspace, owner, email="colleague@example.com", role=Role.EDITOR):
    invitation, _ = inv.invitation_create(user=owner, workspace_id=workspace.pk, email=email, role=role)
    return invitation, _link_token(mail.outbox[-1])


def test_invite_sends_single_use_link_and_stores_only_its_hash(workspace, owner):
    invitation, token = invite(workspace, owner)
    message = mail.outbox[-1]
    assert message.to == ["colleague@example.com"] and "Support" in message.subject
    assert invitation.token_hash == inv._hash(token) and token not in invitation.token_hash
    assert invitation.expires_at - timezone.now() > timedelta(days=6, hours=23)  # INVITATION_EXPIRY_DAYS=7
    event = AuditEvent.objects.get(event_type="invitation", action="create")
    assert event.details["before"] is None
    assert event.details["after"]["email"] == "colleague@example.com" and event.details["after"]["role"] == "editor"
    assert token not in str(event.details)


def test_existing_account_accepts_once_with_case_insensitive_email(workspace, owner):
    colleague = make_user("colleague")  # colleague@example.com
    invitation, token = invite(workspace, owner, email="Colleague@Example.COM")
    membership = inv.invitation_accept(token=token, user=colleague)
    assert membership.role == Role.EDITOR and membership.workspace == workspace
    invitation.refresh_from_db()
    assert invitation.accepted_by == colleague and invitation.accepted_at is not None
    accepted = AuditEvent.objects.get(event_type="invitation", action="accept", success=True)
    assert accepted.details["before"]["status"] == "pending" and accepted.details["after"]["status"] == "accepted"
    joined = AuditEvent.objects.get(event_type="membership", action="create", workspace_id=workspace.pk)
    assert joined.details["before"] is None and joined.details["after"] == {"role": "editor"}
    with pytest.raises(ServiceError) as used:
        inv.invitation_accept(token=token, user=colleague)
    assert used.value.http_status == 410 and "already used" in used.value.message


def test_wrong_account_is_refused_and_audited(workspace, owner, viewer):
    _, token = invite(workspace, owner)
    stranger = make_user("stranger")
    with pytest.raises(ServiceError) as info:
        inv.invitation_accept(token=token, user=stranger)
    assert info.value.http_status == 403
    assert not Membership.objects.filter(user=stranger).exists()
    assert AuditEvent.objects.get(event_type="invitation", action="accept", success=False).details["reason"] == (
        "email_mismatch"
    )


def test_expired_link_is_refused(workspace, owner):
    colleague = make_user("colleague")
    invitation, token = invite(workspace, owner)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ServiceError) as info:
        inv.invitation_accept(token=token, user=colleague)
    assert info.value.http_status == 410 and "expired" in info.value.message
    with pytest.raises(Http404):
        inv.invitation_get_by_token(token="not-a-real-token")


def test_existing_member_cannot_be_invited(workspace, owner, member):
    with pytest.raises(ValidationError) as info:
        inv.invitation_create(user=owner, workspace_id=workspace.pk, email="MEMBER@example.com", role="viewer")
    assert "already a member" in str(info.value)
    assert not Invitation.objects.exists() and not mail.outbox


def test_reinviting_replaces_the_pending_invitation(workspace, owner):
    colleague = make_user("colleague")
    first, old_token = invite(workspace, owner, role=Role.VIEWER)
    second, new_token = invite(workspace, owner, role=Role.EDITOR)
    first.refresh_from_db()
    assert first.revoked_at is not None
    assert [i.pk for i in inv.invitations_for_workspace(user=owner, workspace_id=workspace.pk)] == [second.pk]
    event = AuditEvent.objects.filter(event_type="invitation", action="create").latest("timestamp")
    assert event.details["before"]["invitation_id"] == str(first.pk) and event.details["after"]["role"] == "editor"
    with pytest.raises(ServiceError):
        inv.invitation_accept(token=old_token, user=colleague)
    assert inv.invitation_accept(token=new_token, user=colleague).role == Role.EDITOR


def test_resend_issues_a_new_link_and_revoke_kills_it(workspace, owner):
    colleague = make_user("colleague")
    invitation, old_token = invite(workspace, owner)
    inv.invitation_resend(user=owner, workspace_id=workspace.pk, invitation_id=invitation.pk)
    new_token = _link_token(mail.outbox[-1])
    assert new_token != old_token
    with pytest.raises(Http404):
        inv.invitation_get_by_token(token=old_token)
    resend = AuditEvent.objects.get(event_type="invitation", action="resend")
    assert set(resend.details) >= {"before", "after"}
    inv.invitation_revoke(user=owner, workspace_id=workspace.pk, invitation_id=invitation.pk)
    revoke = AuditEvent.objects.get(event_type="invitation", action="revoke")
    assert revoke.details["before"]["status"] == "pending" and revoke.details["after"]["status"] == "revoked"
    with pytest.raises(ServiceError) as info:
        inv.invitation_accept(token=new_token, user=colleague)
    assert info.value.http_status == 410


def test_who_may_invite(workspace, owner, member, viewer, outsider):
    from tenants.models import Membership as M

    admin = make_user("admin")
    M.objects.create(user=admin, workspace=workspace, role=Role.ADMIN)
    with pytest.raises(PermissionDenied):
        inv.invitation_create(user=admin, workspace_id=workspace.pk, email="x@example.com", role=Role.OWNER)
    inv.invitation_create(user=admin, workspace_id=workspace.pk, email="x@example.com", role=Role.ADMIN)
    for user in (member, viewer):
        with pytest.raises(PermissionDenied):
            inv.invitation_create(user=user, workspace_id=workspace.pk, email="y@example.com", role=Role.VIEWER)
    with pytest.raises(Http404):
        inv.invitation_create(user=outsider, workspace_id=workspace.pk, email="y@example.com", role=Role.VIEWER)


def test_link_is_built_from_the_request_without_site_url(workspace, owner, client, settings):
    settings.SITE_URL = ""
    client.force_login(owner)
    client.post(reverse("workspaces:invite", args=[workspace.pk]), {"email": "c@example.com", "role": "viewer"})
    assert "http://testserver/invitations/" in mail.outbox[-1].body


# ---------------------------------------------------------------- the accept page


def test_accept_page_creates_a_new_account_with_the_password_rules(client, workspace, owner):
    invite(workspace, owner, email="newbie@example.com", role=Role.VIEWER)
    url = re.search(r"https://kb\.example\.com(/invitations/[\w-]+/)", mail.outbox[-1].body).group(1)
    page = client.get(url)
    assert page.status_code == 200 and b"Create account and join" in page.content
    weak = client.post(url, {"username": "newbie", "password1": "newbie", "password2": "newbie"})
    assert weak.status_code == 400 and not Membership.objects.filter(user__username="newbie").exists()
    assert b"too short" in weak.content or b"too similar" in weak.content
    response = client.post(url, {"username": "newbie", "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302
    membership = Membership.objects.get(user__username="newbie")
    assert membership.workspace == workspace and membership.role == Role.VIEWER
    assert membership.user.email == "newbie@example.com"
    home = client.get(response["Location"])  # logged in as the new account
    assert home.status_code == 200 and b"newbie" in home.content and b"Support" in home.content
    assert AuditEvent.objects.get(event_type="user", action="create").details["after"]["username"] == "newbie"
    assert client.get(url).status_code == 410  # single use


def test_accept_page_for_a_logged_in_account(client, workspace, owner):
    colleague = make_user("colleague")
    invite(workspace, owner)
    url = re.search(r"https://kb\.example\.com(/invitations/[\w-]+/)", mail.outbox[-1].body).group(1)
    stranger = make_user("stranger")
    client.force_login(stranger)
    assert b"whose email is not" in client.get(url).content
    assert client.post(url).status_code == 403
    client.force_login(colleague)
    assert b"Accept and join" in client.get(url).content
    assert client.post(url).status_code == 302
    assert Membership.objects.get(user=colleague, workspace=workspace).role == Role.EDITOR


def test_invitation_panel_over_htmx(client_for, workspace, owner):
    client = client_for(owner)
    url = reverse("workspaces:invite", args=[workspace.pk])
    response = client.post(url, {"email": "c@example.com", "role": "editor"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="invitations"') and "c@example.com" in html
    invitation = Invitation.objects.get(email="c@example.com")
    revoke = reverse("workspaces:invitation_revoke", args=[workspace.pk, invitation.pk])
    html = client.post(revoke, HTTP_HX_REQUEST="true").content.decode()
    assert "No pending invitations" in html
    bad = client.post(url, {"email": "owner@example.com", "role": "viewer"}, HTTP_HX_REQUEST="true")
    assert "already a member" in bad.content.decode()
