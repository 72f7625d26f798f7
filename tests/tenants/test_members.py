"""Workspaces and members: create, rename, roles, removal, ownership, leaving — the rules, the audit trail with
before/after, and the pages (HTMX panels included)."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.urls import reverse

from privexbot.models import AuditEvent
from tenants import members
from tenants.models import ApiToken, Membership, Role, Workspace
from tenants.tokens import hash_token
from tests.conftest import make_user


def make_key(user, *, scopes=("write",), kb_ids=(), name="key") -> tuple[ApiToken, str]:
    """An API key row made directly (the token functions are another part's and may change their signature)."""
    import secrets

    text = "pxb_" + secrets.token_urlsafe(32)
    row = ApiToken.objects.create(
        user=user, name=name, prefix=text[:12], token_hash=hash_token(text), scopes=list(scopes), kb_ids=list(kb_ids)
    )
    return row, text


def _event(action: str, **filters) -> AuditEvent:
    events = list(AuditEvent.objects.filter(action=action, **filters).order_by("-timestamp"))
    assert events, f"no audit event {action} {filters}"
    return events[0]


@pytest.fixture
def admin_user(workspace):
    user = make_user("admin")
    Membership.objects.create(user=user, workspace=workspace, role=Role.ADMIN)
    return user


@pytest.fixture
def other_workspace(org, owner):
    """A second workspace of the same organization; `owner` owns it too."""
    ws = Workspace.objects.create(organization=org, name="Sales")
    Membership.objects.create(user=owner, workspace=ws, role=Role.OWNER)
    return ws


# ---------------------------------------------------------------- create, rename


def test_owner_creates_workspace_and_owns_it_audited(owner, org, workspace):
    ws = members.workspace_create(user=owner, organization_id=org.pk, name="Legal")
    assert ws.organization == org and ws.role == Role.OWNER
    assert Membership.objects.get(user=owner, workspace=ws).role == Role.OWNER
    event = _event("create", event_type="workspace", workspace_id=ws.pk)
    assert event.details["before"] is None and event.details["after"]["name"] == "Legal"
    assert _event("create", event_type="membership", workspace_id=ws.pk).details["after"] == {"role": "owner"}


def test_only_owners_create_workspaces_and_outsiders_get_404(org, member, admin_user, outsider, owner):
    with pytest.raises(PermissionDenied):
        members.workspace_create(user=member, organization_id=org.pk, name="Nope")
    with pytest.raises(PermissionDenied):
        members.workspace_create(user=admin_user, organization_id=org.pk, name="Nope")
    with pytest.raises(Http404):
        members.workspace_create(user=outsider, organization_id=org.pk, name="Nope")
    with pytest.raises(ValidationError):
        members.workspace_create(user=owner, organization_id=org.pk, name="support")  # taken, any case
    assert not Workspace.objects.filter(name="Nope").exists()


def test_rename_audited_and_refused_to_viewer_and_outsider(workspace, owner, viewer, outsider):
    members.workspace_rename(user=owner, workspace_id=workspace.pk, name="Helpdesk")
    workspace.refresh_from_db()
    assert workspace.name == "Helpdesk"
    event = _event("rename", workspace_id=workspace.pk)
    assert event.details == {"before": {"name": "Support"}, "after": {"name": "Helpdesk"}}
    with pytest.raises(PermissionDenied):
        members.workspace_rename(user=viewer, workspace_id=workspace.pk, name="X")
    with pytest.raises(Http404):
        members.workspace_rename(user=outsider, workspace_id=workspace.pk, name="X")


# ---------------------------------------------------------------- roles


def test_role_change_audited_with_before_and_after(workspace, owner, member):
    members.member_role_change(user=owner, workspace_id=workspace.pk, member_id=member.pk, role=Role.VIEWER)
    assert Membership.objects.get(user=member, workspace=workspace).role == Role.VIEWER
    event = _event("role_change", workspace_id=workspace.pk)
    assert event.user == owner
    assert event.details["before"] == {"role": "editor"} and event.details["after"] == {"role": "viewer"}
    assert event.details["member"] == "member"


def test_admin_cannot_touch_the_owner_role(workspace, owner, admin_user, member):
    with pytest.raises(PermissionDenied):
        members.member_role_change(user=admin_user, workspace_id=workspace.pk, member_id=member.pk, role=Role.OWNER)
    with pytest.raises(PermissionDenied):
        members.member_role_change(user=admin_user, workspace_id=workspace.pk, member_id=owner.pk, role=Role.ADMIN)
    with pytest.raises(PermissionDenied):
        members.member_remove(user=admin_user, workspace_id=workspace.pk, member_id=owner.pk)
    # ...but manages everyone else
    members.member_role_change(user=admin_user, workspace_id=workspace.pk, member_id=member.pk, role=Role.VIEWER)
    assert Membership.objects.get(user=member, workspace=workspace).role == Role.VIEWER


def test_editor_and_viewer_cannot_manage(workspace, member, viewer):
    with pytest.raises(PermissionDenied):
        members.member_role_change(user=member, workspace_id=workspace.pk, member_id=viewer.pk, role=Role.EDITOR)
    with pytest.raises(PermissionDenied):
        members.member_remove(user=viewer, workspace_id=workspace.pk, member_id=member.pk)


def test_last_owner_cannot_be_demoted_removed_or_leave(workspace, owner, member):
    for call in (
        lambda: members.member_role_change(user=owner, workspace_id=workspace.pk, member_id=owner.pk, role="admin"),
        lambda: members.member_remove(user=owner, workspace_id=workspace.pk, member_id=owner.pk),
        lambda: members.workspace_leave(user=owner, workspace_id=workspace.pk),
    ):
        with pytest.raises(ValidationError) as info:
            call()
        assert "last owner" in str(info.value)
    assert Membership.objects.get(user=owner, workspace=workspace).role == Role.OWNER
    # With a second owner, the first may step down.
    members.member_role_change(user=owner, workspace_id=workspace.pk, member_id=member.pk, role=Role.OWNER)
    members.member_role_change(user=owner, workspace_id=workspace.pk, member_id=owner.pk, role=Role.ADMIN)
    assert Membership.objects.filter(workspace=workspace, role=Role.OWNER).get().user == member


def test_unknown_member_and_role(workspace, owner, outsider):
    with pytest.raises(Http404):
        members.member_role_change(user=owner, workspace_id=workspace.pk, member_id=outsider.pk, role="viewer")
    with pytest.raises(ValidationError):
        members.member_role_change(user=owner, workspace_id=workspace.pk, member_id=owner.pk, role="god")


# ---------------------------------------------------------------- removal, leave, ownership


def test_removed_member_is_refused_at_once_in_browser_and_api(client, workspace, owner, member, kb):
    client.force_login(member)
    assert client.get(reverse("kb:detail", args=[kb.pk])).status_code == 200
    _, key = make_key(member, scopes=["read"])
    api_url = f"/api/v1/knowledge-bases/{kb.pk}/"
    assert client.get(api_url, HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200

    members.member_remove(user=owner, workspace_id=workspace.pk, member_id=member.pk)

    assert client.get(reverse("kb:detail", args=[kb.pk])).status_code == 404  # the same session, next request
    assert client.get(reverse("workspaces:detail", args=[workspace.pk])).status_code == 404
    assert client.get(api_url, HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 404
    event = _event("remove", event_type="membership", workspace_id=workspace.pk)
    assert event.details["before"] == {"role": "editor"} and event.details["after"] is None


def test_removal_ends_kb_grants_and_kb_limited_keys_of_the_workspace(workspace, other_workspace, owner, viewer, kb):
    from guardian.shortcuts import assign_perm

    from kb.selectors import kb_queryset_for_user

    assign_perm("kb_update", viewer, kb)
    limited, _ = make_key(viewer, kb_ids=[kb.pk])
    general, _ = make_key(viewer)
    Membership.objects.create(user=viewer, workspace=other_workspace, role=Role.VIEWER)  # stays in the org

    members.member_remove(user=owner, workspace_id=workspace.pk, member_id=viewer.pk)

    assert not kb_queryset_for_user(user=viewer).filter(pk=kb.pk).exists()  # the grant did not survive
    assert ApiToken.objects.get(pk=limited.pk).revoked_at is not None
    assert ApiToken.objects.get(pk=general.pk).revoked_at is None  # still useful in Sales
    grant_event = _event("revoke", event_type="kb_share", resource_id=str(kb.pk))
    assert grant_event.details["reason"] == "member_removed" and grant_event.details["after"] is None


def test_member_leaves(workspace, owner, member):
    members.workspace_leave(user=member, workspace_id=workspace.pk)
    assert not Membership.objects.filter(user=member, workspace=workspace).exists()
    assert _event("leave", workspace_id=workspace.pk).details["before"] == {"role": "editor"}


def test_ownership_transfer(workspace, owner, member, admin_user):
    with pytest.raises(PermissionDenied):
        members.ownership_transfer(user=admin_user, workspace_id=workspace.pk, member_id=member.pk)
    members.ownership_transfer(user=owner, workspace_id=workspace.pk, member_id=member.pk)
    roles = dict(Membership.objects.filter(workspace=workspace).values_list("user__username", "role"))
    assert roles["member"] == Role.OWNER and roles["owner"] == Role.ADMIN
    event = _event("ownership_transfer", workspace_id=workspace.pk)
    assert event.details["before"] == {"new_owner": "editor", "previous_owner": "owner"}
    assert event.details["after"] == {"new_owner": "owner", "previous_owner": "admin"}


# ---------------------------------------------------------------- pages


def test_workspace_pages_for_owner(client_for, workspace, owner, member, org):
    client = client_for(owner)
    listing = client.get(reverse("workspaces:list")).content.decode()
    assert "Support" in listing and "Create a workspace" in listing
    response = client.post(reverse("workspaces:list"), {"organization": str(org.pk), "name": "Legal"})
    created = Workspace.objects.get(name="Legal")
    assert response.status_code == 302 and response["Location"] == reverse("workspaces:detail", args=[created.pk])
    page = client.get(reverse("workspaces:detail", args=[workspace.pk])).content.decode()
    assert 'id="members"' in page and 'id="invitations"' in page and "Role of member" in page


def test_role_select_over_htmx_returns_the_members_panel(client_for, workspace, owner, member):
    url = reverse("workspaces:member_role", args=[workspace.pk, member.pk])
    response = client_for(owner).post(url, {"role": "viewer"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<section class="card" id="members"')
    assert f'id="member-{member.pk}" data-role="viewer"' in html and "member is now viewer" in html
    # The last-owner refusal shows in the panel, and nothing changes.
    response = client_for(owner).post(
        reverse("workspaces:member_role", args=[workspace.pk, owner.pk]), {"role": "viewer"}, HTTP_HX_REQUEST="true"
    )
    assert "last owner" in response.content.decode()
    assert Membership.objects.get(user=owner, workspace=workspace).role == Role.OWNER


def test_viewer_sees_members_without_controls_and_gets_403_on_management(client_for, workspace, viewer, member):
    client = client_for(viewer)
    page = client.get(reverse("workspaces:detail", args=[workspace.pk])).content.decode()
    assert "member" in page and "Role of member" not in page and 'id="invitations"' not in page
    assert (
        client.post(reverse("workspaces:member_role", args=[workspace.pk, member.pk]), {"role": "viewer"}).status_code
        == 403
    )
    assert client.post(reverse("workspaces:member_remove", args=[workspace.pk, member.pk])).status_code == 403
    assert client.post(reverse("workspaces:detail", args=[workspace.pk]), {"name": "X"}).status_code == 403
    assert client.post(reverse("workspaces:invite", args=[workspace.pk]), {"email": "a@b.co"}).status_code == 403
    assert Membership.objects.get(user=member, workspace=workspace).role == Role.EDITOR


def test_outsider_gets_404_on_every_workspace_page(client_for, workspace, outsider, member):
    client = client_for(outsider)
    assert client.get(reverse("workspaces:detail", args=[workspace.pk])).status_code == 404
    assert client.post(reverse("workspaces:member_remove", args=[workspace.pk, member.pk])).status_code == 404
    assert client.post(reverse("workspaces:leave", args=[workspace.pk])).status_code == 404
    assert "Support" not in client.get(reverse("workspaces:list")).content.decode()


def test_remove_page_post_and_names_escaped(client_for, workspace, owner, member):
    workspace.name = "<b>bold</b>"
    workspace.save()
    client = client_for(owner)
    page = client.get(reverse("workspaces:detail", args=[workspace.pk])).content.decode()
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    response = client.post(reverse("workspaces:member_remove", args=[workspace.pk, member.pk]))
    assert response.status_code == 302
    assert not Membership.objects.filter(user=member, workspace=workspace).exists()


def test_mfa_buttons_for_owners_only(client_for, workspace, org, owner, member):
    from allauth.mfa.models import Authenticator

    page = client_for(owner).get(reverse("workspaces:detail", args=[workspace.pk])).content.decode()
    assert "Reset MFA of member" in page and "Require MFA for everyone" in page
    Authenticator.objects.create(user=member, type=Authenticator.Type.TOTP, data={"secret": "x"})
    response = client_for(owner).post(
        reverse("workspaces:member_mfa_reset", args=[workspace.pk, member.pk]), HTTP_HX_REQUEST="true"
    )
    assert "must enrol again" in response.content.decode()
    assert not Authenticator.objects.filter(user=member).exists()
    response = client_for(owner).post(reverse("workspaces:mfa_required", args=[workspace.pk]), {"required": "1"})
    org.refresh_from_db()
    assert response.status_code == 302 and org.mfa_required
    member_client = client_for(member)
    assert member_client.post(
        reverse("workspaces:mfa_required", args=[workspace.pk]), {"required": "0"}
    ).status_code in (
        302,
        403,
    )  # an MFA-required member without MFA is sent to enrolment (302) before the view's own 403
    org.refresh_from_db()
    assert org.mfa_required
