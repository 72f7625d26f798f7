"""Retention: documents are deleted N days after their upload or their last update, by the KB's own policy or,
when it inherits, its workspace's (tenants.retention). A KB under legal hold (kb.legal_hold) keeps everything.

`retention_run` is the periodic job (kb.actors.retention_periodic, every RETENTION_INTERVAL seconds) and
`manage.py retention_run`; it deletes through kb.deletion (the one secure-deletion service: files, chunks,
every derived copy, a signed receipt per batch, each document's audit event; reason "retention") and it is the
only caller of the audit-log purge
(AUDIT_RETENTION_DAYS). The settings pages and the API preview (`retention_preview`) use the same query as
the run, so what they list as due is what the next run deletes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from kb.models import IN_PROGRESS, Document, KnowledgeBase
from privexbot.audit import audit_purge, audit_record
from privexbot.errors import Conflict
from privexbot.metrics.definitions import AUDIT_EVENTS_PURGED, RETENTION_DOCUMENTS_DELETED, RETENTION_RUNS
from tenants.models import Perm, RetentionBasis
from tenants.retention import check_retention_basis, check_retention_days, retention_state
from tenants.selectors import user_workspace_perms

LAST_RUN_KEY = "retention:last_run"  # in the cache (Redis): when the job last finished, for "next run"
PREVIEW_SIZE = 10
BATCH_SIZE = 100  # documents loaded at a time while one KB's due documents are deleted


@dataclass(frozen=True)
class Policy:
    days: int | None  # None: keep forever
    basis: str  # RetentionBasis
    source: str  # "knowledge_base" or "workspace": whose policy it is

    def as_dict(self) -> dict:
        return {"days": self.days, "basis": self.basis, "source": self.source}


def effective_policy(kb: KnowledgeBase) -> Policy:
    if kb.retention_inherit:
        workspace = kb.workspace
        return Policy(workspace.retention_days, workspace.retention_basis, "workspace")
    return Policy(kb.retention_days, kb.retention_basis, "knowledge_base")


def _with_due_time(documents: QuerySet[Document], policy: Policy) -> QuerySet[Document]:
    """Documents with their due time under `policy`, soonest first. A document a worker is on right now waits
    for the next run (its worker would be cut off mid-write; the sweeper ends silent ones, so it cannot wait
    forever)."""
    start = "created_at" if policy.basis == RetentionBasis.UPLOADED else "updated_at"
    due_at = ExpressionWrapper(F(start) + timedelta(days=policy.days), output_field=DateTimeField())
    return documents.exclude(status__in=IN_PROGRESS).annotate(due_at=due_at).order_by("due_at", "pk")


def _due_documents(kb: KnowledgeBase, policy: Policy) -> QuerySet[Document]:
    return _with_due_time(Document.objects.filter(kb=kb), policy)


def _kbs_with_a_policy() -> QuerySet[KnowledgeBase]:
    own = Q(retention_inherit=False, retention_days__isnull=False)
    inherited = Q(retention_inherit=True, workspace__retention_days__isnull=False)
    return KnowledgeBase.objects.filter(own | inherited).select_related("workspace").order_by("pk")


def next_run_at(now: datetime | None = None) -> datetime:
    """When the periodic job runs next: one interval after its last run (or from now when it has not run yet,
    as a worker that just started waits one interval before the first run)."""
    now = now or timezone.now()
    last = parse_datetime(cache.get(LAST_RUN_KEY) or "")
    due = (last or now) + timedelta(seconds=settings.RETENTION_INTERVAL)
    return max(due, now)


def retention_preview(*, kb: KnowledgeBase, now: datetime | None = None, limit: int = PREVIEW_SIZE) -> dict:
    """What the policy will delete next and when: the effective policy, the next `limit` documents by due time
    (`overdue`: due already, the next run deletes it), how many are overdue, and the next run time."""
    now = now or timezone.now()
    policy = effective_policy(kb)
    preview = {
        "policy": policy.as_dict(),
        "own_policy": {"inherit": kb.retention_inherit, **retention_state(kb)},
        "legal_hold": kb.legal_hold,
        "next_run_at": next_run_at(now),
        "overdue": 0,
        "upcoming": [],
    }
    if policy.days is None:
        return preview
    documents = _due_documents(kb, policy)
    preview["overdue"] = documents.filter(due_at__lte=now).count()
    preview["upcoming"] = [
        {"id": d.pk, "name": d.name, "due_at": d.due_at, "overdue": d.due_at <= now}
        for d in documents.only("pk", "name", "created_at", "updated_at")[:limit]
    ]
    return preview


def workspace_retention_preview(*, workspace, kbs: QuerySet[KnowledgeBase], now=None, limit=PREVIEW_SIZE) -> dict:
    """The workspace policy's next deletions among `kbs` (the caller's readable KBs of the workspace): those
    that follow the workspace's policy, soonest first, with the KBs under legal hold marked (they keep theirs)."""
    now = now or timezone.now()
    policy = Policy(workspace.retention_days, workspace.retention_basis, "workspace")
    inheriting = kbs.filter(workspace=workspace, retention_inherit=True)
    preview = {"policy": policy.as_dict(), "next_run_at": next_run_at(now), "overdue": 0, "upcoming": [],
               "own_policy_kbs": kbs.filter(workspace=workspace, retention_inherit=False).count()}  # fmt: skip
    if policy.days is None:
        return preview
    documents = _with_due_time(Document.objects.filter(kb__in=inheriting.values("pk")), policy).select_related("kb")
    preview["overdue"] = documents.filter(due_at__lte=now, kb__legal_hold=False).count()
    preview["upcoming"] = [
        {
            "id": d.pk,
            "name": d.name,
            "kb_id": d.kb_id,
            "kb_name": d.kb.name,
            "due_at": d.due_at,
            "overdue": d.due_at <= now,
            "held": d.kb.legal_hold,
        }
        for d in documents[:limit]
    ]
    return preview


@transaction.atomic
def kb_retention_set(
    *, kb: KnowledgeBase, user, inherit: bool | None = None, days=..., basis: str | None = None, request=None
) -> KnowledgeBase:
    """Set the KB's own policy (days None: keep forever, whatever the workspace says) or make it follow its
    workspace's (`inherit`). Giving days or basis without `inherit` means an own policy. Owners and admins of
    the workspace only (deleting documents on a schedule is theirs to decide); audited with before/after."""
    if Perm.WORKSPACE_MANAGE not in user_workspace_perms(user=user, workspace=kb.workspace):
        raise PermissionDenied("only owners and admins of the workspace set a retention policy")
    locked = KnowledgeBase.objects.select_for_update().get(pk=kb.pk)
    before = {"inherit": locked.retention_inherit, **retention_state(locked)}
    if inherit is None:
        inherit = False if (days is not ... or basis is not None) else locked.retention_inherit
    after = {
        "inherit": bool(inherit),
        "retention_days": check_retention_days(days) if days is not ... else locked.retention_days,
        "retention_basis": check_retention_basis(basis) if basis is not None else locked.retention_basis,
    }
    if after == before:
        return kb
    fields = {"retention_inherit": after["inherit"], "retention_days": after["retention_days"],
              "retention_basis": after["retention_basis"]}  # fmt: skip
    KnowledgeBase.objects.filter(pk=kb.pk).update(**fields, updated_at=timezone.now())
    for name, value in fields.items():
        setattr(kb, name, value)
    audit_record(
        event_type="knowledge_base", action="retention_policy", user=user, request=request, workspace=kb.workspace,
        resource=kb, details={"before": before, "after": after},
    )  # fmt: skip
    return kb


@dataclass
class RetentionReport:
    now: datetime
    dry_run: bool = False
    deleted: dict[str, int] = field(default_factory=dict)  # kb id -> documents deleted (or due, in a dry run)
    held: dict[str, int] = field(default_factory=dict)  # kb id -> documents due but kept by a legal hold
    errors: dict[str, list[str]] = field(default_factory=dict)  # kb id -> what could not be deleted, and why
    receipts: dict[str, list[str]] = field(default_factory=dict)  # kb id -> ids of the deletion receipts
    audit_purged: int = 0

    @property
    def deleted_total(self) -> int:
        return sum(self.deleted.values())

    def as_dict(self) -> dict:
        return {
            "now": self.now.isoformat(), "dry_run": self.dry_run, "deleted": self.deleted_total,
            "knowledge_bases": self.deleted, "held": self.held, "errors": self.errors,
            "audit_purged": self.audit_purged, "receipts": self.receipts,
        }  # fmt: skip


def _delete_batch(documents: list[Document], key: str, report: RetentionReport) -> bool:
    """One batch of a KB's due documents through the secure-deletion service (one receipt for the batch); when
    the batch fails, each document alone, so one bad document does not keep the others. False: stop this KB
    (a legal hold was set during the run)."""
    from kb.deletion import delete_documents
    from kb.services import document_delete

    try:
        receipt = delete_documents(documents=documents, user=None, reason="retention")
    except Conflict as exc:
        if exc.code == "legal_hold":
            report.errors.setdefault(key, []).append(exc.message)
            return False
        receipt = None
    except Exception:  # noqa: BLE001  (retried one by one below, where the failing document is named)
        receipt = None
    if receipt is not None:
        report.receipts.setdefault(key, []).append(str(receipt.pk))
        deleted = len(documents)
    else:
        deleted = 0
        for document in documents:
            try:
                receipt = document_delete(document=document, user=None, reason="retention")
            except Exception as exc:  # noqa: BLE001  (recorded in the report and the run's audit event)
                report.errors.setdefault(key, []).append(f"{document.pk}: {getattr(exc, 'message', exc)}")
                if getattr(exc, "code", "") == "legal_hold":
                    return False
            else:
                report.receipts.setdefault(key, []).append(str(receipt.pk))
                deleted += 1
    report.deleted[key] = report.deleted.get(key, 0) + deleted
    RETENTION_DOCUMENTS_DELETED.inc(deleted)
    return True


def _delete_due(kb: KnowledgeBase, policy: Policy, now: datetime, report: RetentionReport) -> None:
    due = _due_documents(kb, policy).filter(due_at__lte=now)
    ids = list(due.values_list("pk", flat=True))  # fixed first: a failed document is not retried in a loop
    key = str(kb.pk)
    if not ids:
        return
    if kb.legal_hold:
        report.held[key] = len(ids)
        return
    if report.dry_run:
        report.deleted[key] = len(ids)
        return
    for start in range(0, len(ids), BATCH_SIZE):
        batch = list(Document.objects.filter(pk__in=ids[start : start + BATCH_SIZE]).select_related("kb"))
        if batch and not _delete_batch(batch, key, report):
            return


def _purge_audit(*, now: datetime) -> int:
    """Audit events older than AUDIT_RETENTION_DAYS. This job is the only caller of privexbot.audit's purge (the
    audit table's trigger refuses DELETE outside it); the purge records its own event."""
    return audit_purge(before=now - timedelta(days=settings.AUDIT_RETENTION_DAYS))


def retention_run(*, now: datetime | None = None, dry_run: bool = False) -> RetentionReport:
    """Delete every document past its policy (KB by KB, not under legal hold) and purge old audit events; one
    audit event records the run with its counts per KB. `dry_run` reports what would go and changes nothing."""
    now = now or timezone.now()
    report = RetentionReport(now=now, dry_run=dry_run)
    for kb in _kbs_with_a_policy().iterator(chunk_size=200):
        _delete_due(kb, effective_policy(kb), now, report)
    if dry_run:
        return report
    report.audit_purged = _purge_audit(now=now)
    AUDIT_EVENTS_PURGED.inc(report.audit_purged)
    audit_record(
        event_type="retention", action="run", success=not report.errors,
        details={k: v for k, v in report.as_dict().items() if k not in ("now", "dry_run")},
    )  # fmt: skip
    RETENTION_RUNS.labels(outcome="errors" if report.errors else "ok").inc()
    cache.set(LAST_RUN_KEY, timezone.now().isoformat(), timeout=None)
    return report
