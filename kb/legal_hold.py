"""Legal hold on a knowledge base: while it is on, nothing in the KB is deleted, by retention or by anyone (the
KB itself, its documents, from every door): kb.services.kb_delete and document_delete call
`legal_hold_refuse_deletion` first and get a Conflict (409 in the API). Only an owner of the KB's workspace sets
or lifts a hold (a shared grant or the admin role is not enough: a hold is a legal decision); both are audited
with the state before and after."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from kb.models import KnowledgeBase
from privexbot.audit import audit_record
from privexbot.errors import Conflict
from tenants.models import Role
from tenants.selectors import membership_get

REASON_MAX = 500


def legal_hold_state(kb: KnowledgeBase) -> dict:
    return {
        "legal_hold": kb.legal_hold,
        "by": kb.legal_hold_by.get_username() if kb.legal_hold and kb.legal_hold_by else None,
        "at": kb.legal_hold_at.isoformat() if kb.legal_hold and kb.legal_hold_at else None,
        "reason": kb.legal_hold_reason if kb.legal_hold else "",
    }


def can_manage_legal_hold(*, user, kb: KnowledgeBase) -> bool:
    membership = membership_get(user=user, workspace=kb.workspace)
    return membership is not None and membership.role == Role.OWNER


def _require_owner(*, user, kb: KnowledgeBase) -> None:
    if not can_manage_legal_hold(user=user, kb=kb):
        raise PermissionDenied("only an owner of the workspace may set or lift a legal hold")


def _check_reason(reason) -> str:
    reason = " ".join(str(reason or "").split())
    if not 1 <= len(reason) <= REASON_MAX:
        raise ValidationError({"reason": [f"Say why the knowledge base is held (1 to {REASON_MAX} characters)."]})
    return reason


def _locked(kb: KnowledgeBase) -> KnowledgeBase:
    return KnowledgeBase.objects.select_for_update().get(pk=kb.pk)


def _save_and_audit(kb, locked, fields: dict, *, action: str, user, request) -> KnowledgeBase:
    before = legal_hold_state(locked)
    KnowledgeBase.objects.filter(pk=kb.pk).update(**fields)
    for name, value in fields.items():
        setattr(kb, name, value)
    audit_record(
        event_type="knowledge_base", action=action, user=user, request=request, workspace=kb.workspace,
        resource=kb, details={"before": before, "after": legal_hold_state(kb)},
    )  # fmt: skip
    return kb


@transaction.atomic
def kb_legal_hold_set(*, kb: KnowledgeBase, user, reason: str, request=None) -> KnowledgeBase:
    """Put the KB under legal hold (or change the reason of a hold in place). Owners only."""
    _require_owner(user=user, kb=kb)
    reason = _check_reason(reason)
    locked = _locked(kb)  # a deletion that checks the hold waits for this transaction, then sees it
    if locked.legal_hold and locked.legal_hold_reason == reason:
        return locked
    fields = {"legal_hold": True, "legal_hold_reason": reason}
    if not locked.legal_hold:
        fields |= {"legal_hold_by": user, "legal_hold_at": timezone.now()}
    return _save_and_audit(kb, locked, fields, action="legal_hold_set", user=user, request=request)


@transaction.atomic
def kb_legal_hold_lift(*, kb: KnowledgeBase, user, request=None) -> KnowledgeBase:
    """Lift the hold: deletions (and retention) apply again. Owners only; lifting no hold changes nothing."""
    _require_owner(user=user, kb=kb)
    locked = _locked(kb)
    if not locked.legal_hold:
        return locked
    fields = {"legal_hold": False, "legal_hold_by": None, "legal_hold_at": None, "legal_hold_reason": ""}
    return _save_and_audit(kb, locked, fields, action="legal_hold_lift", user=user, request=request)


def legal_hold_refuse_deletion(*, kb_id, what: str) -> None:
    """The first step of every deletion service: raise Conflict when the KB is under legal hold. The KB row is
    locked (FOR NO KEY UPDATE: chunk inserts, which only share-lock it, go on) until the caller's transaction
    ends, so a hold set at the same moment either waits for the deletion or is seen by it."""
    with transaction.atomic():
        row = (
            KnowledgeBase.objects.select_for_update(no_key=True)
            .filter(pk=kb_id)
            .values_list("legal_hold", "name")
            .first()
        )
    if row is not None and row[0]:
        raise Conflict(
            f"“{row[1]}” is under legal hold: {what} cannot be deleted until an owner lifts the hold.",
            code="legal_hold",
        )
