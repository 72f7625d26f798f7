"""The access funnel: every read of tenant data by a view, API, command or actor starts here.

Rules: a user sees a workspace only through a Membership; the role decides which permissions apply.
Something the user may not even see is a 404 (never a 403 that would confirm it exists); something
visible but not allowed for this action is a 403.
"""

from __future__ import annotations

import uuid

from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404

from privexbot.metrics.definitions import UNAUTHORIZED_ACCESS
from tenants.models import ROLE_PERMISSIONS, Membership, Perm, Workspace


def parse_uuid(value) -> uuid.UUID:
    """A malformed id is just an id that does not exist."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise Http404("not found") from None


def workspaces_for_user(*, user, perm: str | None = None) -> QuerySet[Workspace]:
    """Workspaces the user is a member of, annotated with `role`; optionally only those granting `perm`."""
    if not getattr(user, "is_authenticated", False):
        return Workspace.objects.none()
    memberships = Membership.objects.filter(user=user)
    if perm is not None:
        memberships = memberships.filter(role__in=[r for r, perms in ROLE_PERMISSIONS.items() if perm in perms])
    role = Membership.objects.filter(user=user, workspace=OuterRef("pk")).values("role")[:1]
    return (
        Workspace.objects.filter(pk__in=memberships.values("workspace_id"))
        .select_related("organization")
        .annotate(role=Subquery(role))
    )


def membership_get(*, user, workspace) -> Membership | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return Membership.objects.filter(user=user, workspace=workspace).first()


def user_workspace_perms(*, user, workspace) -> frozenset[str]:
    membership = membership_get(user=user, workspace=workspace)
    return membership.permissions if membership else frozenset()


def workspace_get_for_user(*, user, workspace_id, perm: str = Perm.KB_READ) -> Workspace:
    workspace = workspaces_for_user(user=user).filter(pk=parse_uuid(workspace_id)).first()
    if workspace is None:
        UNAUTHORIZED_ACCESS.labels(resource="workspace", outcome="404").inc()
        raise Http404("workspace not found")
    if perm not in ROLE_PERMISSIONS[workspace.role]:
        UNAUTHORIZED_ACCESS.labels(resource="workspace", outcome="403").inc()
        raise PermissionDenied(f"your role in this workspace does not allow {perm}")
    return workspace
