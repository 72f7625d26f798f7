"""The sync-run state machine: the only place a SyncRun's status is written.

    queued -> running -> completed | failed | review (waiting for a draft's finalize) | queued (worker silent)
    queued -> failed | cancelled | queued (its message may be lost: sent again)
    running -> cancelled (its source went)     review -> completed | cancelled

The sweeper requeues a running sync whose worker stopped sending heartbeats and fails it after
DOCUMENT_MAX_ATTEMPTS, so no sync stays `running` forever. A re-run is safe: pages already applied come back
unchanged (their content hash now matches).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from kb.models import SyncRun
from kb.models import SyncStatus as S
from privexbot.statemachine import SilentWorkers, StateMachine

TRANSITIONS = {
    S.QUEUED: frozenset({S.RUNNING, S.FAILED, S.CANCELLED, S.QUEUED}),
    S.RUNNING: frozenset({S.COMPLETED, S.FAILED, S.REVIEW, S.QUEUED, S.CANCELLED}),
    S.REVIEW: frozenset({S.COMPLETED, S.CANCELLED}),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}
ACTIVE = (S.QUEUED, S.RUNNING, S.REVIEW)  # a source has at most one of these at a time
RUNS = StateMachine(SyncRun, TRANSITIONS, touch=None)  # SyncRun has no updated_at
move = RUNS.move


def worker_silent() -> Q:
    cutoff = timezone.now() - timedelta(seconds=settings.DOCUMENT_STALE_AFTER)
    return Q(status=S.RUNNING, heartbeat_at__lt=cutoff)


def message_lost() -> Q:
    """Queued for 10 stale periods without a worker taking it (or since it was last sent again): the message may
    be lost (a broker restart). Sending it again is harmless: only one worker can claim a queued run."""
    cutoff = timezone.now() - timedelta(seconds=10 * settings.DOCUMENT_STALE_AFTER)
    return Q(status=S.QUEUED) & (Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff))


def _sweep_fields(run: SyncRun, given_up: bool) -> dict:
    if not given_up:
        return {"heartbeat_at": None}
    reason = f"The worker stopped (crashed or was killed) while syncing this website, {run.attempts} times."
    return {"error": reason, "heartbeat_at": None, "finished_at": timezone.now()}


SILENT_WORKERS = SilentWorkers(worker_silent, retry_to=S.QUEUED, give_up_to=S.FAILED, fields=_sweep_fields)
