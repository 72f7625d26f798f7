"""A workspace's retention policy: how long its KBs keep documents unless a KB has a policy of its own.

Only the policy lives here (tenants sits below kb); applying it, and the KB-level policy and legal hold, are
kb.retention and kb.legal_hold. Owners and admins set it, through the access funnel, audited with before/after.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from privexbot.audit import audit_record
from tenants.models import RETENTION_DAYS_MAX, RETENTION_DAYS_MIN, Perm, RetentionBasis, Workspace
from tenants.selectors import workspace_get_for_user


def check_retention_days(days) -> int | None:
    """None (keep forever) or a whole number of days within the bounds."""
    if days is None or days == "":
        return None
    try:
        value = int(days)
    except (TypeError, ValueError):
        raise ValidationError({"retention_days": ["A whole number of days, or nothing to keep forever."]}) from None
    if (isinstance(days, float) and days != value) or not RETENTION_DAYS_MIN <= value <= RETENTION_DAYS_MAX:
        raise ValidationError(
            {"retention_days": [f"Between {RETENTION_DAYS_MIN} and {RETENTION_DAYS_MAX} days, or nothing (forever)."]}
        )
    return value


def check_retention_basis(basis) -> str:
    if basis not in RetentionBasis.values:
        raise ValidationError({"retention_basis": [f"One of: {', '.join(RetentionBasis.values)}."]})
    return basis


def retention_state(obj) -> dict:
    """What the audit records before and after a change (a workspace or a KB: the same two fields)."""
    return {"retention_days": obj.retention_days, "retention_basis": obj.retention_basis}


@transaction.atomic
def workspace_retention_set(*, user, workspace_id, days, basis: str | None = None, request=None) -> Workspace:
    """Set the workspace's policy (days None: keep forever). Owners and admins only; a no-op is not audited."""
    workspace = workspace_get_for_user(user=user, workspace_id=workspace_id, perm=Perm.WORKSPACE_MANAGE)
    days = check_retention_days(days)
    basis = check_retention_basis(basis if basis is not None else workspace.retention_basis)
    locked = Workspace.objects.select_for_update().get(pk=workspace.pk)
    before = retention_state(locked)
    after = {"retention_days": days, "retention_basis": basis}
    if before != after:
        Workspace.objects.filter(pk=workspace.pk).update(**after)
        audit_record(
            event_type="workspace", action="retention_policy", user=user, request=request, workspace=workspace,
            resource=workspace, details={"before": before, "after": after},
        )  # fmt: skip
    workspace.retention_days, workspace.retention_basis = days, basis
    return workspace
