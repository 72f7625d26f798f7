"""The draft-source state machine: the only place a DraftSource's status is written.

    pending -> processing -> completed | error
    processing -> pending (its worker went silent: retried) | error (given up after the last attempt)

Pasted text is created `completed` (nothing to process). A running crawl is cancelled through
`cancel_requested`; it still ends in completed (pages kept) or error.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from drafts.models import DraftSource
from drafts.models import SourceStatus as S
from privexbot.statemachine import SilentWorkers, StateMachine

TRANSITIONS = {
    S.PENDING: frozenset({S.PROCESSING}),
    S.PROCESSING: frozenset({S.COMPLETED, S.ERROR, S.PENDING}),
    S.COMPLETED: frozenset(),
    S.ERROR: frozenset(),
}
SOURCES = StateMachine(DraftSource, TRANSITIONS)


def worker_silent() -> Q:
    cutoff = timezone.now() - timedelta(seconds=settings.DOCUMENT_STALE_AFTER)
    return Q(status=S.PROCESSING, heartbeat_at__lt=cutoff)


move = SOURCES.move  # the guarded transition (see privexbot.statemachine)


def _sweep_fields(source: DraftSource, given_up: bool) -> dict:
    if not given_up:
        return {"heartbeat_at": None}
    reason = f"The worker stopped (crashed or was killed) while processing this source, {source.attempts} times."
    return {"error": reason, "error_code": "worker_lost", "heartbeat_at": None}


SILENT_WORKERS = SilentWorkers(worker_silent, retry_to=S.PENDING, give_up_to=S.ERROR, fields=_sweep_fields)
