"""/api/v1/workspaces/... and /api/v1/invitations/accept/: create, rename, members, roles, removal, ownership,
invitations — the status codes of the rules (404 another tenant, 403 a role that may not, 409 the last owner)
and the audit events with before/after."""

import re
import secrets

import pytest
from django.core import mail
from rest_framework.test import APIClient

from privexbot.models import AuditEvent
from tenants.models import ApiToken, Invitation, Membership, Role, Workspace
from tenants.tokens import hash_token
from tests.api.conftest import error_of
from tests.conftest import make_user

WS = "/api/v1/workspaces/{}/"


@pytest.fixture(autouse=True)
def locmem_email(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = ""
    mail.outbox.clear()


@pytest.fixture
def key():
    """key(user) -> an APIClient with an `admin`-scoped key of that user (management routes need it)."""

    def make(user, scopes=("admin",)):
        text = "pxb_" + secrets.token_urlsafe(32)
        ApiToken.objects.create(user=user, name="t", prefix=text[:12], token_hash=hash_token(text), scopes=list(scopes))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {text}")
        return client

    return make


def test_create_and_rename_workspace(key, org, owner, member, outsider):
    response = key(owner).post("/api/v1/workspaces/", {"organization_id": str(org.pk), "name": "Legal"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Legal" and body["role"] == "owner" and "workspace:manage" in body["permissions"]
    error_of(key(member).post("/api/v1/workspaces/", {"organization_id": str(org.pk), "name": "X"}), 403)
    error_of(key(outsider).post("/api/v1/workspaces/", {"organization_id": str(org.pk), "name": "X"}), 404)
    assert error_of(key(owner).post("/api/v1/workspaces/", {"name": "X"}), 400)["details"]["organization_id"]

    url = WS.format(body["id"])
    renamed = key(owner).patch(url, {"name": "Legal & Compliance"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Legal & Compliance"
    event = AuditEvent.objects.get(event_type="workspace", action="rename")
    assert event.details == {"before": {"name": "Legal"}, "after": {"name": "Legal & Compliance"}}
    assert key(owner).get("/api/v1/workspaces/").status_code == 200


def test_members_list_role_change_and_last_owner(key, workspace, owner, member, viewer, outsider):
    listed = key(viewer).get(WS.format(workspace.pk) + "members/")
    assert listed.status_code == 200
    assert [(m["username"], m["role"]) for m in listed.json()] == [
        ("owner", "owner"), ("member", "editor"), ("viewer", "viewer")
    ]  # fmt: skip
    error_of(key(outsider).get(WS.format(workspace.pk) + "members/"), 404)

    url = WS.format(workspace.pk) + f"members/{member.pk}/"
    error_of(key(viewer).patch(url, {"role": "viewer"}), 403)
    assert key(owner).patch(url, {"role": "viewer"}).json()["role"] == "viewer"
    event = AuditEvent.objects.get(event_type="membership", action="role_change")
    assert event.details["before"] == {"role": "editor"} and event.details["after"] == {"role": "viewer"}
    last = error_of(key(owner).patch(WS.format(workspace.pk) + f"members/{owner.pk}/", {"role": "admin"}), 409)
    assert "last owner" in last["message"]
    error_of(key(owner).delete(WS.format(workspace.pk) + f"members/{owner.pk}/"), 409)  # leaving, as last owner
    error_of(key(owner).patch(WS.format(workspace.pk) + f"members/{outsider.pk}/", {"role": "viewer"}), 404)


def test_remove_member_their_key_stops_at_once(key, workspace, owner, member, kb):
    member_client = key(member, scopes=("read",))
    assert member_client.get(f"/api/v1/knowledge-bases/{kb.pk}/").status_code == 200
    assert key(owner).delete(WS.format(workspace.pk) + f"members/{member.pk}/").status_code == 204
    error_of(member_client.get(f"/api/v1/knowledge-bases/{kb.pk}/"), 404)
    error_of(member_client.get(WS.format(workspace.pk) + "members/"), 404)
    event = AuditEvent.objects.get(event_type="membership", action="remove")
    assert event.details["before"] == {"role": "editor"} and event.details["after"] is None


def test_add_organization_user_and_transfer_ownership(key, workspace, org, owner, member):
    sales = Workspace.objects.create(organization=org, name="Sales")
    colleague = make_user("colleague")
    Membership.objects.create(user=colleague, workspace=sales, role=Role.VIEWER)
    stranger = make_user("stranger")
    url = WS.format(workspace.pk) + "members/"
    added = key(owner).post(url, {"user": "COLLEAGUE@example.com", "role": "editor"})
    assert added.status_code == 201 and added.json()["username"] == "colleague"
    error_of(key(owner).post(url, {"user": "stranger"}), 400)  # not in the organization: invite them
    assert not Membership.objects.filter(user=stranger).exists()

    moved = key(owner).post(WS.format(workspace.pk) + "transfer-ownership/", {"user_id": member.pk})
    assert moved.status_code == 200
    roles = {m["username"]: m["role"] for m in moved.json()}
    assert roles["member"] == "owner" and roles["owner"] == "admin"
    assert AuditEvent.objects.get(event_type="membership", action="ownership_transfer").details["after"] == {
        "new_owner": "owner", "previous_owner": "admin"
    }  # fmt: skip
    error_of(key(owner).post(WS.format(workspace.pk) + "transfer-ownership/", {"user_id": member.pk}), 403)


def test_invitations_over_the_api(key, workspace, owner, viewer):
    url = WS.format(workspace.pk) + "invitations/"
    error_of(key(viewer).post(url, {"email": "new@example.com"}), 403)
    created = key(owner).post(url, {"email": "new@example.com", "role": "editor"})
    assert created.status_code == 201 and created.json()["status"] == "pending"
    token = re.search(r"/invitations/([\w-]+)/", mail.outbox[-1].body).group(1)
    assert "http://testserver/invitations/" in mail.outbox[-1].body
    assert [i["email"] for i in key(owner).get(url).json()] == ["new@example.com"]
    invitation_id = created.json()["id"]
    resent = key(owner).post(url + f"{invitation_id}/resend")
    assert resent.status_code == 200 and len(mail.outbox) == 2
    token = re.search(r"/invitations/([\w-]+)/", mail.outbox[-1].body).group(1)

    newcomer = make_user("new")  # new@example.com
    wrong = make_user("wrong")
    error_of(key(wrong).post("/api/v1/invitations/accept/", {"token": token}), 403)
    accepted = key(newcomer, scopes=("read",)).post("/api/v1/invitations/accept/", {"token": token})
    assert accepted.status_code == 201 and accepted.json()["role"] == "editor"
    assert error_of(key(newcomer).post("/api/v1/invitations/accept/", {"token": token}), 410)["code"] == (
        "invitation_accepted"
    )
    error_of(key(newcomer).post("/api/v1/invitations/accept/", {"token": "nope"}), 404)


def test_revoke_invitation(key, workspace, owner, outsider):
    url = WS.format(workspace.pk) + "invitations/"
    invitation_id = key(owner).post(url, {"email": "x@example.com"}).json()["id"]
    error_of(key(outsider).delete(url + f"{invitation_id}/"), 404)
    assert key(owner).delete(url + f"{invitation_id}/").status_code == 204
    assert Invitation.objects.get(pk=invitation_id).revoked_at is not None
    assert key(owner).get(url).json() == []
    event = AuditEvent.objects.get(event_type="invitation", action="revoke")
    assert event.details["after"]["status"] == "revoked"


def test_management_views_declare_the_admin_scope():
    """The scope check (another part) reads `required_scope`: every write here needs `admin`."""
    from rest_framework.test import APIRequestFactory

    from tenants.api import members as views

    factory = APIRequestFactory()
    for cls in (views.MemberDetailView, views.OwnershipTransferView, views.InvitationListCreateView,
                views.InvitationDetailView, views.InvitationResendView, views.OrganizationDetailView):  # fmt: skip
        assert cls.required_scope == "admin", cls
    for cls in (views.WorkspaceListCreateView, views.WorkspaceDetailView, views.MemberListView):
        view = cls()
        view.request = factory.get("/")
        assert view.required_scope == "read", cls
        view.request = factory.post("/")
        assert view.required_scope == "admin", cls


def test_mfa_reset_and_mfa_required_routes(key, workspace, org, owner, member):
    from allauth.mfa.models import Authenticator

    Authenticator.objects.create(user=member, type=Authenticator.Type.TOTP, data={"secret": "x"})
    error_of(key(member).post(WS.format(workspace.pk) + f"members/{owner.pk}/mfa-reset"), 403)
    assert key(owner).post(WS.format(workspace.pk) + f"members/{member.pk}/mfa-reset").status_code == 204
    assert not Authenticator.objects.filter(user=member).exists()
    assert AuditEvent.objects.get(event_type="mfa", action="reset").details["after"] == {"authenticators": []}

    url = f"/api/v1/organizations/{org.pk}/"
    error_of(key(member).patch(url, {"mfa_required": True}), 403)
    response = key(owner).patch(url, {"mfa_required": True})
    assert response.status_code == 200 and response.json()["mfa_required"] is True
    org.refresh_from_db()
    assert org.mfa_required
    event = AuditEvent.objects.get(action="mfa_required_set")
    assert event.details == {"before": {"mfa_required": False}, "after": {"mfa_required": True}}
