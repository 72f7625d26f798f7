"""Starting syncs: on demand (KB page, API, manage.py sync_website) and from the schedule; the sweeper."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from drafts.sync import states
from drafts.sync.sources import next_sync_time
from kb.models import SyncRun, SyncSchedule, SyncStatus, WebsiteSource
from privexbot.audit import audit_record
from privexbot.errors import Conflict, ServiceError

TRIGGERS = ("manual", "api", "command", "schedule")


def _enqueue(run_id) -> None:
    from drafts.actors import sync_website_source

    transaction.on_commit(lambda: sync_website_source.send(str(run_id)))


@transaction.atomic
def sync_start(*, website_source: WebsiteSource, user, trigger: str = "manual", request=None) -> SyncRun:
    """Queue a re-sync of one website source. One sync per source at a time: another one queued, running or
    waiting for review is a Conflict (409)."""
    if trigger not in TRIGGERS:
        raise ServiceError("invalid", f"trigger must be one of {', '.join(TRIGGERS)}")
    source = WebsiteSource.objects.select_for_update().select_related("kb__workspace").get(pk=website_source.pk)
    active = SyncRun.objects.filter(website_source=source, status__in=states.ACTIVE).first()
    if active is not None:
        raise Conflict(
            f"A sync of {source.url} is already {active.get_status_display().lower()}.",
            code="sync_active", details={"sync_run_id": [str(active.pk)]},
        )  # fmt: skip
    run = SyncRun.objects.create(website_source=source, kb=source.kb, trigger=trigger, created_by=user)
    if trigger == "schedule":  # counted from the start, so a site that keeps failing is not retried every sweep
        WebsiteSource.objects.filter(pk=source.pk).update(next_sync_at=next_sync_time(source.schedule))
    audit_record(
        event_type="website_sync", action="start", user=user, request=request, workspace=source.kb.workspace,
        resource=run, details={"kb_id": str(source.kb_id), "website_source_id": str(source.pk), "url": source.url,
                               "trigger": trigger},
    )  # fmt: skip
    _enqueue(run.pk)
    return run


def syncs_start_due() -> int:
    """Periodic: start the scheduled syncs that are due (next_sync_at <= now) and not already active."""
    active = SyncRun.objects.filter(website_source=OuterRef("pk"), status__in=states.ACTIVE)
    due = (
        WebsiteSource.objects.exclude(schedule=SyncSchedule.OFF)
        .filter(next_sync_at__lte=timezone.now())
        .exclude(Exists(active))
    )
    started = 0
    for source in due:
        try:
            sync_start(website_source=source, user=None, trigger="schedule")
            started += 1
        except Conflict:  # started by someone else meanwhile
            pass
    return started


def sync_sweep() -> tuple[list[str], int]:
    """Syncs whose worker went silent: requeued or, after DOCUMENT_MAX_ATTEMPTS, failed; queued ones whose
    message may be lost are marked sent again. Returns (ids to send, how many failed)."""
    retried, failed = states.RUNS.sweep(states.SILENT_WORKERS, max_attempts=settings.DOCUMENT_MAX_ATTEMPTS)
    to_send = [str(run.pk) for run in retried]
    lost = states.message_lost()
    for pk in SyncRun.objects.filter(lost).values_list("pk", flat=True):
        if states.move(pk, SyncStatus.QUEUED, only_from=[SyncStatus.QUEUED], when=lost, heartbeat_at=timezone.now()):
            to_send.append(str(pk))
    return to_send, failed


def sync_run_cancel(*, run: SyncRun, user=None, request=None, reason: str = "cancelled") -> bool:
    """A review draft deleted (its changes discarded), or a queued run given up."""
    moved = states.move(run.pk, SyncStatus.CANCELLED, only_from=[SyncStatus.QUEUED, SyncStatus.REVIEW],
                        finished_at=timezone.now())  # fmt: skip
    if moved:
        audit_record(
            event_type="website_sync", action="cancel", user=user, request=request, workspace=run.kb.workspace,
            resource=run, details={"kb_id": str(run.kb_id), "reason": reason},
        )  # fmt: skip
    return moved
