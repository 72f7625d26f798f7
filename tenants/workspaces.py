"""Deleting a workspace or a whole organization: the one service every door goes through (the admin's delete page
and "delete selected" action, a user's erasure that takes their own workspaces).

A plain `workspace.delete()` would cascade through the database: KB rows go, but their stored files stay on disk,
no receipt is written, derived copies (embedding cache, cached query vectors, drafts' uploads) stay and nothing
is audited. Here the KBs and drafts go through their own deletion services first — tenants sits below kb and
drafts, so it asks them with the `workspace_deleting` signal (tenants.signals; kb.tenant_deletion and
drafts.tenant_deletion answer) — and only what is left (memberships, invitations, the row) cascades.

A KB under legal hold refuses the whole deletion before anything is deleted (privexbot.errors.Conflict): the
check pass of the signal locks each KB row (kb.legal_hold), so a hold set at the same moment either waits for
this deletion or is seen by it. The refusal is audited as a failed event.

Who may: a superuser, a staff user holding the admin's `delete_workspace` / `delete_organization` permission,
(for one workspace) one of its owners, or the operator (user=None: a management command, an erasure run by one).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction

from privexbot.audit import audit_record
from privexbot.errors import Conflict, ServiceError
from tenants.models import Invitation, Membership, Organization, Role, Workspace
from tenants.signals import collect_counts, workspace_deleting


def _may_delete_workspace(user, workspace: Workspace) -> bool:
    # No is_active test: the doors only pass logged-in users, and an erasure deletes the workspaces of an
    # account it has already deactivated (tenants.erasure). None: the operator (a management command).
    if user is None:
        return True
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser or user.has_perm("tenants.delete_workspace"):
        return True
    return Membership.objects.filter(user=user, workspace=workspace, role=Role.OWNER).exists()


def _may_delete_organization(user) -> bool:
    if user is None:
        return True
    if not getattr(user, "is_authenticated", False):
        return False
    return user.is_superuser or user.has_perm("tenants.delete_organization")


def _check(workspace: Workspace, *, user, request, reason: str) -> None:
    """Raises (Conflict) when something in the workspace must not be deleted; changes nothing."""
    workspace_deleting.send(
        sender=Workspace, workspace=workspace, user=user, request=request, reason=reason, check=True
    )


def _delete_checked(workspace: Workspace, *, user, request, reason: str) -> dict:
    """Delete a workspace whose check passed, inside the caller's transaction; returns the counts."""
    counts = collect_counts(
        workspace_deleting.send(
            sender=Workspace, workspace=workspace, user=user, request=request, reason=reason, check=False
        )
    )
    counts["members"] = Membership.objects.filter(workspace=workspace).count()
    counts["invitations"] = Invitation.objects.filter(workspace=workspace).count()
    workspace_id = workspace.pk
    workspace.delete()  # what is left cascades: memberships, invitations
    workspace.pk = workspace_id  # delete() clears it; the audit event names it
    audit_record(
        event_type="workspace", action="delete", user=user, request=request, workspace=workspace,
        resource=workspace, details={"name": workspace.name, "reason": reason, **counts},
    )  # fmt: skip
    return counts


def _refused(refusal: ServiceError, *, event_type: str, resource, user, request, reason: str, **scope) -> None:
    audit_record(
        event_type=event_type, action="delete", user=user, request=request, resource=resource, success=False,
        details={"name": resource.name, "reason": reason, "refused": refusal.code}, **scope,
    )  # fmt: skip


def workspace_delete_check(*, workspace: Workspace, user, request=None, reason: str = "user") -> None:
    """What workspace_delete refuses (permission, legal hold), checked without deleting anything; for a caller
    that must know before it changes anything else (tenants.erasure). Inside a transaction, the held KB rows
    stay locked until it ends."""
    if not _may_delete_workspace(user, workspace):
        raise PermissionDenied("only a superuser, an administrator or an owner of the workspace may delete it")
    _check(workspace, user=user, request=request, reason=reason)


@transaction.atomic
def workspace_delete(*, workspace: Workspace, user, request=None, reason: str = "user") -> dict:
    """Delete the workspace with every KB (signed receipts, shredded files) and draft in it; returns the counts
    (knowledge_bases, documents, drafts, members, invitations, receipt_ids). Refuses (Conflict, nothing deleted)
    when one of its KBs is under legal hold."""
    if not _may_delete_workspace(user, workspace):
        raise PermissionDenied("only a superuser, an administrator or an owner of the workspace may delete it")
    workspace = Workspace.objects.select_for_update().select_related("organization").get(pk=workspace.pk)
    try:
        _check(workspace, user=user, request=request, reason=reason)
    except ServiceError as refusal:
        _refused(refusal, event_type="workspace", resource=workspace, user=user, request=request, reason=reason,
                 workspace=workspace)  # fmt: skip
        raise Conflict(f"Workspace “{workspace.name}” was not deleted: {refusal.message}", code=refusal.code,
                       details=refusal.details) from refusal  # fmt: skip
    return _delete_checked(workspace, user=user, request=request, reason=reason)


@transaction.atomic
def organization_delete(*, organization: Organization, user, request=None, reason: str = "user") -> dict:
    """Delete the organization: each workspace through the deletion above, after every one of them passed the
    check (a legal hold anywhere refuses it all, nothing deleted), then the organization row."""
    if not _may_delete_organization(user):
        raise PermissionDenied("only a superuser or an administrator may delete an organization")
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    workspaces = list(Workspace.objects.select_for_update().filter(organization=organization).order_by("name"))
    try:
        for workspace in workspaces:
            _check(workspace, user=user, request=request, reason=reason)
    except ServiceError as refusal:
        _refused(refusal, event_type="organization", resource=organization, user=user, request=request,
                 reason=reason, organization=organization)  # fmt: skip
        raise Conflict(f"Organization “{organization.name}” was not deleted: {refusal.message}",
                       code=refusal.code, details=refusal.details) from refusal  # fmt: skip
    totals: dict = {"workspaces": len(workspaces)}
    for workspace in workspaces:
        for name, value in _delete_checked(workspace, user=user, request=request, reason=reason).items():
            totals[name] = [*totals.get(name, []), *value] if isinstance(value, list) else totals.get(name, 0) + value
    organization_id = organization.pk
    organization.delete()
    organization.pk = organization_id
    audit_record(
        event_type="organization", action="delete", user=user, request=request, organization=organization,
        resource=organization, details={"name": organization.name, "reason": reason, **totals},
    )  # fmt: skip
    return totals
