"""The document state machine: the only place a Document's status is written.

    queued -> parsing -> chunking -> embedding -> indexing -> ready
    any in-progress state -> queued (retry / worker lost) | failed | quarantined | parsing (a new worker
                             takes over a silent one)
    ready | failed | quarantined -> queued (reprocess)   queued -> queued (message sent again)

Reprocessing a document that a live worker is on is refused (services raise Conflict): the running
worker would otherwise overwrite the request, or the request would throw away the run's work.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from kb.models import FINISHED, IN_PROGRESS, Document
from kb.models import DocumentStatus as S
from privexbot.statemachine import SilentWorkers, StateMachine

_ENDINGS = frozenset({S.QUEUED, S.FAILED, S.QUARANTINED, S.PARSING})
TRANSITIONS = {
    S.QUEUED: frozenset({S.PARSING, S.QUEUED}),
    S.PARSING: _ENDINGS | {S.CHUNKING},
    S.CHUNKING: _ENDINGS | {S.EMBEDDING},
    S.EMBEDDING: _ENDINGS | {S.INDEXING},
    S.INDEXING: _ENDINGS | {S.READY},
    S.READY: frozenset({S.QUEUED}),
    S.FAILED: frozenset({S.QUEUED}),
    S.QUARANTINED: frozenset({S.QUEUED}),
}
DOCUMENTS = StateMachine(Document, TRANSITIONS)


def stale_cutoff():
    return timezone.now() - timedelta(seconds=settings.DOCUMENT_STALE_AFTER)


def worker_silent() -> Q:
    """In progress, but its worker stopped sending heartbeats (crashed, killed, or cut off)."""
    return Q(status__in=IN_PROGRESS, heartbeat_at__lt=stale_cutoff())


move = DOCUMENTS.move  # the guarded transition (see privexbot.statemachine)


def requeueable() -> Q:
    """What a reprocess may queue again: a finished or queued document, or one whose worker went silent."""
    return Q(status__in=(*FINISHED, S.QUEUED)) | worker_silent()


def requeue_all(documents, *, reset_attempts: bool, when: Q | None = None) -> int:
    """Queue `documents` again (those matching `when`, by default requeueable()), cleared for a fresh run;
    returns how many moved. A document a live worker is on never matches."""
    fields = {"progress": 0, "error": "", "error_code": "", "heartbeat_at": None}
    if reset_attempts:
        fields["attempts"] = 0
    return DOCUMENTS.move_all(documents, S.QUEUED, when=requeueable() if when is None else when, **fields)


def requeue(document_id, *, reset_attempts: bool, when: Q | None = None) -> bool:
    return bool(requeue_all(Document.objects.filter(pk=document_id), reset_attempts=reset_attempts, when=when))


def _sweep_fields(document: Document, given_up: bool) -> dict:
    if not given_up:
        return {"error": "The worker stopped; requeued.", "error_code": "worker_lost"}
    reason = (
        f"The worker stopped (crashed or was killed) while {document.status} this document, "
        f"{document.attempts} times; it was set aside so it cannot block the queue."
    )
    return {"error": reason, "error_code": "worker_lost", "heartbeat_at": None}


SILENT_WORKERS = SilentWorkers(worker_silent, retry_to=S.QUEUED, give_up_to=S.QUARANTINED, fields=_sweep_fields)
