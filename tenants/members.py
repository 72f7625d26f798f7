"""Workspaces and their members: create, rename, change a role, remove, transfer ownership, leave.

Who may do what (every check goes through the access funnel, `workspace_get_for_user`):
- Owners and admins manage a workspace (Perm.WORKSPACE_MANAGE): rename it, invite, change roles, remove
  members, revoke and resend invitations.
- Only an owner touches the owner role: makes someone an owner (by role change or invitation), demotes or
  removes an owner, transfers ownership. An admin may not, so an admin can never take a workspace over.
- At least one owner always remains: the last owner cannot be demoted, removed or leave. Membership changes
  lock the workspace row first, so two owners demoting each other at the same moment cannot both succeed.
- There is no organization-level role: an owner of any workspace of an organization may create workspaces in
  it (and becomes their owner). Everyone else gets a 404 for an organization they are not in, 403 otherwise.

Removing a member (or leaving) deletes the Membership: every later request of that user — browser session or
API key — reaches the workspace only through the funnel, which now answers 404. The `member_removed` signal
lets kb end the user's KB grants in the workspace and revoke keys limited to its KBs (tenants cannot import kb).

Every write records an audit event with {"before": ..., "after": ...} in its details.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils.text import slugify

from privexbot.audit import audit_record
from tenants.models import Membership, Organization, Perm, Role, Workspace
from tenants.selectors import parse_uuid, workspace_get_for_user
from tenants.signals import member_removed

NAME_MAX = 255


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": ["A workspace needs a name."]})
    if len(name) > NAME_MAX:
        raise ValidationError({"name": [f"At most {NAME_MAX} characters."]})
    return name


def _check_role(role: str) -> str:
    if role not in Role.values:
        raise ValidationError({"role": [f"Unknown role {role!r}; one of {', '.join(Role.values)}."]})
    return role


def _unique_slug(organization: Organization, name: str) -> str:
    base = slugify(name)[:70] or "workspace"
    slug, n = base, 1
    while Workspace.objects.filter(organization=organization, slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _lock(workspace: Workspace) -> Workspace:
    """Serialize membership changes of one workspace (the last-owner rule counts owners under this lock)."""
    return Workspace.objects.select_for_update().get(pk=workspace.pk)


def _owner_count(workspace: Workspace) -> int:
    return Membership.objects.filter(workspace=workspace, role=Role.OWNER).count()


def _member(workspace: Workspace, member_id) -> Membership:
    try:
        member_id = int(member_id)
    except (TypeError, ValueError):
        raise Http404("member not found") from None
    membership = Membership.objects.select_related("user").filter(workspace=workspace, user_id=member_id).first()
    if membership is None:
        raise Http404("member not found")
    return membership


def _require_owner(workspace: Workspace, why: str) -> None:
    if workspace.role != Role.OWNER:
        raise PermissionDenied(f"only an owner of this workspace may {why}")


def _who(membership: Membership) -> dict:
    return {"member_id": membership.user_id, "member": membership.user.get_username()}


# ---------------------------------------------------------------- reads


def organizations_for_creator(*, user) -> QuerySet[Organization]:
    """Organizations in which the user may create workspaces: those where they own at least one."""
    if not getattr(user, "is_authenticated", False):
        return Organization.objects.none()
    owned = Membership.objects.filter(user=user, role=Role.OWNER).values("workspace__organization_id")
    return Organization.objects.filter(pk__in=owned)


def workspace_members(*, workspace: Workspace) -> list[Membership]:
    """The members of a workspace the caller already reached through the funnel (owners first)."""
    order = {Role.OWNER: 0, Role.ADMIN: 1, Role.EDITOR: 2, Role.VIEWER: 3}
    rows = list(Membership.objects.filter(workspace=workspace).select_related("user"))
    return sorted(rows, key=lambda m: (order[m.role], m.user.get_username().lower()))


# ---------------------------------------------------------------- writes


def organization_get_for_owner(*, user, organization_id, why: str = "manage it") -> Organization:
    """The organization if the user owns one of its workspaces: 404 when not in it at all, 403 otherwise."""
    organization_id = parse_uuid(organization_id)
    if not getattr(user, "is_authenticated", False):
        raise Http404("organization not found")
    in_org = Membership.objects.filter(user=user, workspace__organization_id=organization_id)
    if not in_org.exists():
        raise Http404("organization not found")
    if not in_org.filter(role=Role.OWNER).exists():
        raise PermissionDenied(f"only an owner of a workspace of this organization may {why}")
    return Organization.objects.get(pk=organization_id)


@transaction.atomic
def workspace_create(*, user, organization_id, name: str, request=None) -> Workspace:
    """A new workspace in an organization the user owns a workspace of; the creator is its owner."""
    organization = organization_get_for_owner(user=user, organization_id=organization_id, why="create workspaces in it")
    name = _check_name(name)
    if Workspace.objects.filter(organization=organization, name__iexact=name).exists():
        raise ValidationError({"name": ["This organization already has a workspace with that name."]})
    try:
        with transaction.atomic():
            workspace = Workspace.objects.create(
                organization=organization, name=name, slug=_unique_slug(organization, name)
            )
    except IntegrityError:  # a concurrent create took the slug
        raise ValidationError({"name": ["This organization already has a workspace with that name."]}) from None
    membership = Membership.objects.create(user=user, workspace=workspace, role=Role.OWNER)
    audit_record(
        event_type="workspace", action="create", user=user, request=request, workspace=workspace, resource=workspace,
        details={"before": None, "after": {"name": name, "organization": organization.name}},
    )  # fmt: skip
    audit_record(
        event_type="membership", action="create", user=user, request=request, workspace=workspace,
        resource=membership, details={**_who(membership), "before": None, "after": {"role": Role.OWNER}},
    )  # fmt: skip
    workspace.role = Role.OWNER
    return workspace


@transaction.atomic
def workspace_rename(*, user, workspace_id, name: str, request=None) -> Workspace:
    workspace = workspace_get_for_user(user=user, workspace_id=workspace_id, perm=Perm.WORKSPACE_MANAGE)
    name = _check_name(name)
    if name == workspace.name:
        return workspace
    taken = Workspace.objects.filter(organization_id=workspace.organization_id, name__iexact=name)
    if taken.exclude(pk=workspace.pk).exists():
        raise ValidationError({"name": ["This organization already has a workspace with that name."]})
    before = workspace.name
    Workspace.objects.filter(pk=workspace.pk).update(name=name)  # the slug stays: links keep working
    workspace.name = name
    audit_record(
        event_type="workspace", action="rename", user=user, request=request, workspace=workspace, resource=workspace,
        details={"before": {"name": before}, "after": {"name": name}},
    )  # fmt: skip
    return workspace


@transaction.atomic
def member_add(*, user, workspace_id, identifier: str, role: str, request=None) -> Membership:
    """Add a user who is already in the organization (a member of another of its workspaces) without an
    invitation; anyone else is invited by email (tenants.invitations)."""
    workspace = workspace_get_for_user(user=user, workspace_id=workspace_id, perm=Perm.WORKSPACE_MANAGE)
    role = _check_role(role)
    if role == Role.OWNER:
        _require_owner(workspace, "make someone an owner")
    target = user_get_in_organization(organization_id=workspace.organization_id, identifier=identifier)
    if target is None:
        raise ValidationError({"user": ["No user of this organization has that username or email: invite them."]})
    _lock(workspace)
    if Membership.objects.filter(workspace=workspace, user=target).exists():
        raise ValidationError({"user": [ValidationError(f"{target.get_username()} is already a member.", "conflict")]})
    membership = Membership.objects.create(user=target, workspace=workspace, role=role)
    audit_record(
        event_type="membership", action="create", user=user, request=request, workspace=workspace,
        resource=membership, details={**_who(membership), "before": None, "after": {"role": role}},
    )  # fmt: skip
    return membership


@transaction.atomic
def member_role_change(*, user, workspace_id, member_id, role: str, request=None) -> Membership:
    workspace = workspace_get_for_user(user=user, workspace_id=workspace_id, perm=Perm.WORKSPACE_MANAGE)
    role = _check_role(role)
    _lock(workspace)
    membership = _member(workspace, member_id)
    before = membership.role
    if before == role:
        return membership
    if Role.OWNER in (before, role):
        _require_owner(workspace, "give or take the owner role")
    if before == Role.OWNER and _owner_count(workspace) <= 1:
        raise ValidationError(
            {"role": [ValidationError("The last owner cannot be demoted: make someone else owner first.", "conflict")]}
        )
    Membership.objects.filter(pk=membership.pk).update(role=role)
    membership.role = role
    audit_record(
        event_type="membership", action="role_change", user=user, request=request, workspace=workspace,
        resource=membership, details={**_who(membership), "before": {"role": before}, "after": {"role": role}},
    )  # fmt: skip
    return membership


def _delete_membership(*, membership: Membership, workspace: Workspace, actor, action: str, request) -> None:
    audit_record(
        event_type="membership", action=action, user=actor, request=request, workspace=workspace,
        resource=membership, details={**_who(membership), "before": {"role": membership.role}, "after": None},
    )  # fmt: skip
    user = membership.user
    membership.delete()
    member_removed.send(sender=Membership, workspace=workspace, user=user, actor=actor, request=request)


@transaction.atomic
def member_remove(*, user, workspace_id, member_id, request=None) -> None:
    """The member loses the workspace at once (the funnel 404s from their next request)."""
    workspace = workspace_get_for_user(user=user, workspace_id=workspace_id, perm=Perm.WORKSPACE_MANAGE)
    _lock(workspace)
    membership = _member(workspace, member_id)
    if membership.role == Role.OWNER:
        _require_owner(workspace, "remove an owner")
        if _owner_count(workspace) <= 1:
            raise ValidationError(
                {"member": [ValidationError("The last owner cannot be removed: make someone else owner first.",
                                            "conflict")]}
            )  # fmt: skip
    _delete_membership(membership=membership, workspace=workspace, actor=user, action="remove", request=request)


@transaction.atomic
def workspace_leave(*, user, workspace_id, request=None) -> None:
    workspace = workspace_get_for_user(user=user, workspace_id=workspace_id)
    _lock(workspace)
    membership = _member(workspace, user.pk)
    if membership.role == Role.OWNER and _owner_count(workspace) <= 1:
        raise ValidationError(
            {"member": [ValidationError("The last owner cannot leave: transfer ownership first.", "conflict")]}
        )
    _delete_membership(membership=membership, workspace=workspace, actor=user, action="leave", request=request)


@transaction.atomic
def ownership_transfer(*, user, workspace_id, member_id, request=None) -> Membership:
    """The member becomes owner and the caller (an owner) becomes an admin: still able to manage, no longer
    able to touch owners. To share ownership instead, change the member's role to owner."""
    workspace = workspace_get_for_user(user=user, workspace_id=workspace_id, perm=Perm.WORKSPACE_MANAGE)
    _require_owner(workspace, "transfer ownership")
    _lock(workspace)
    target = _member(workspace, member_id)
    if target.user_id == user.pk:
        raise ValidationError({"member": ["You already own this workspace: choose another member."]})
    mine = _member(workspace, user.pk)
    before = {"new_owner": target.role, "previous_owner": mine.role}
    Membership.objects.filter(pk=target.pk).update(role=Role.OWNER)
    Membership.objects.filter(pk=mine.pk).update(role=Role.ADMIN)
    target.role = Role.OWNER
    audit_record(
        event_type="membership", action="ownership_transfer", user=user, request=request, workspace=workspace,
        resource=target,
        details={**_who(target), "before": before, "after": {"new_owner": Role.OWNER, "previous_owner": Role.ADMIN}},
    )  # fmt: skip
    return target


def user_get_in_organization(*, organization_id, identifier: str):
    """A user of the organization (a member of any of its workspaces) by username or email (case-insensitive);
    None when there is none, so a caller cannot probe for accounts outside the organization."""
    identifier = (identifier or "").strip()
    if not identifier:
        return None
    User = get_user_model()
    members = User.objects.filter(memberships__workspace__organization_id=organization_id, is_active=True).distinct()
    user = members.filter(**{User.USERNAME_FIELD: identifier}).first()
    if user is not None:
        return user
    by_email = list(members.filter(email__iexact=identifier)[:2])
    if len(by_email) > 1:
        raise ValidationError({"user": ["Several users have this email: give the username instead."]})
    return by_email[0] if by_email else None


def identity_services():
    """tenants.identity.services (MFA reset, "MFA required"), imported when first needed; None without it."""
    try:
        from tenants.identity import services
    except ImportError:
        return None
    if hasattr(services, "mfa_reset") and hasattr(services, "organization_mfa_required_set"):
        return services
    return None
