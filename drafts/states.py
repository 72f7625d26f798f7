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
from privexbot.statemachine import StateMachine

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


def move(source_id, target: str, *, only_from=None, when: Q | None = None, **fields) -> bool:
    fields.setdefault("updated_at", timezone.now())
    return SOURCES.move(source_id, target, only_from=only_from, when=when, **fields)
