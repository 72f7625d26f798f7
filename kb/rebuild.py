"""Changing a live KB's chunking, embedding model or distance metric: a rebuild into a new index generation.

Search reads only the KB's serving generation (kb.search.filters.serving). A rebuild (KBRebuild) writes the next
generation beside it from the documents' cached parsed elements, with the new settings, while search keeps serving
the old one; when every ready document is in the new generation, ONE transaction gives the KB the new settings
and generation (search switches at that commit), and the old generation's rows are deleted afterwards. A failed or
cancelled rebuild deletes its own rows; the KB never stopped serving the old ones. The task body is
kb.rebuild_worker; this module holds the state machine, the reads and the services every door calls.

    queued ──claim──▶ running ──▶ completed (switched)
      │ ▲               │ ├─▶ failed     (a document fails with the new settings, the model is missing, or
      │ └── worker lost ┘ │              the worker was lost DOCUMENT_MAX_ATTEMPTS times)
      └────────────────────┴─▶ cancelled (cancel button / API / command)

Documents added while a rebuild runs are processed with the serving settings as usual; the rebuild takes every
document that became ready before its switch (it checks again under the switch's lock), and a document still in
progress at the switch is sent round again with the new settings (kb.pipeline.store.replace_chunks `made_for`).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, IntegerField, Max, Q, Value, When
from django.utils import timezone

from kb.configs import (
    CONFIG_VALIDATORS,
    validate_chunking_config,
    validate_embedding_config,
    validate_vector_store_config,
)
from kb.models import DocumentStatus, KBRebuild, KnowledgeBase
from kb.models import RebuildStatus as R
from privexbot.audit import audit_record
from privexbot.errors import Conflict
from privexbot.metrics.definitions import KB_REBUILDS
from privexbot.statemachine import SilentWorkers, StateMachine

ACTIVE = (R.QUEUED, R.RUNNING)
ENDED = (R.COMPLETED, R.FAILED, R.CANCELLED)
TRANSITIONS = {
    R.QUEUED: frozenset({R.RUNNING, R.QUEUED, R.FAILED, R.CANCELLED}),
    R.RUNNING: frozenset({R.RUNNING, R.QUEUED, R.COMPLETED, R.FAILED, R.CANCELLED}),
    R.COMPLETED: frozenset(),
    R.FAILED: frozenset(),
    R.CANCELLED: frozenset(),
}
REBUILDS = StateMachine(KBRebuild, TRANSITIONS, touch=None)  # KBRebuild has no updated_at
SETTINGS_FIELDS = ("chunking_config", "embedding_config", "vector_store_config")


def stale_cutoff():
    return timezone.now() - timedelta(seconds=settings.DOCUMENT_STALE_AFTER)


def worker_silent() -> Q:
    return Q(status=R.RUNNING, heartbeat_at__lt=stale_cutoff())


def _sweep_fields(rebuild: KBRebuild, given_up: bool) -> dict:
    if not given_up:
        return {"error": "The worker stopped; the rebuild resumes where it was.", "heartbeat_at": timezone.now()}
    return {
        "error": f"The worker stopped (crashed or was killed) {rebuild.attempts} times; the rebuild was given up. "
        "The knowledge base kept serving its current index.",
        "finished_at": timezone.now(),
    }


SILENT_WORKERS = SilentWorkers(worker_silent, retry_to=R.QUEUED, give_up_to=R.FAILED, fields=_sweep_fields)


# ---------------------------------------------------------------- reads


def rebuild_active(kb: KnowledgeBase) -> KBRebuild | None:
    return kb.rebuilds.filter(status__in=ACTIVE).order_by("-created_at").first()


def rebuild_latest(kb: KnowledgeBase) -> KBRebuild | None:
    """The running rebuild, else the last one (what the KB page and the API show), in one query."""
    running_first = Case(When(status__in=ACTIVE, then=Value(0)), default=Value(1), output_field=IntegerField())
    return kb.rebuilds.alias(running=running_first).order_by("running", "-created_at").first()


def rebuild_get(*, kb: KnowledgeBase, rebuild_id) -> KBRebuild:
    from django.http import Http404

    from tenants.selectors import parse_uuid

    rebuild = kb.rebuilds.filter(pk=parse_uuid(rebuild_id)).first()
    if rebuild is None:
        raise Http404("rebuild not found")
    return rebuild


def rebuild_summary(rebuild: KBRebuild | None) -> dict | None:
    """The shape the API and the KB page show."""
    if rebuild is None:
        return None
    return {
        "id": str(rebuild.pk),
        "generation": rebuild.generation,
        "status": rebuild.status,
        "active": rebuild.status in ACTIVE,
        "documents_total": rebuild.documents_total,
        "documents_done": rebuild.documents_done,
        "documents_failed": rebuild.documents_failed,
        "progress": int(100 * rebuild.documents_done / rebuild.documents_total) if rebuild.documents_total else 0,
        "error": rebuild.error,
        "chunking_config": rebuild.chunking_config,
        "embedding_config": rebuild.embedding_config,
        "vector_store_config": rebuild.vector_store_config,
        "stats": rebuild.stats,
        "created_at": rebuild.created_at.isoformat(),
        "started_at": rebuild.started_at.isoformat() if rebuild.started_at else None,
        "finished_at": rebuild.finished_at.isoformat() if rebuild.finished_at else None,
    }


# ---------------------------------------------------------------- services


def rebuild_validate(*, kb: KnowledgeBase, chunking_config, embedding_config, vector_store_config) -> dict:
    """The normalised new settings (a missing config keeps the KB's; embedding and vector-store configs may be
    partial), or ValidationError: the model must be installed, its dimensions right, sizes in bounds, and at least
    one setting must change (a rebuild that changes nothing would only cost time)."""
    embedding = {**kb.embedding_config, **(embedding_config or {})}
    if embedding_config and "model" in embedding_config and "dimensions" not in embedding_config:
        embedding.pop("dimensions", None)  # the new model decides its dimensions
    configs = {
        "chunking_config": validate_chunking_config(chunking_config or kb.chunking_config),
        "embedding_config": validate_embedding_config(embedding),
        "vector_store_config": validate_vector_store_config({**kb.vector_store_config, **(vector_store_config or {})}),
    }
    if all(configs[f] == _normalised(f, getattr(kb, f)) for f in SETTINGS_FIELDS):
        raise ValidationError({"settings": ["nothing changes: the knowledge base already uses these settings"]})
    return configs


def _normalised(field: str, value: dict) -> dict:
    try:
        return CONFIG_VALIDATORS[field](value)
    except ValidationError:  # e.g. the KB's model was uninstalled since: any valid new setting is a change
        return value


def _enqueue(rebuild_id) -> None:
    from kb.actors import rebuild_kb

    transaction.on_commit(lambda: rebuild_kb.send(str(rebuild_id)))


def rebuild_start(
    *, kb: KnowledgeBase, user, chunking_config=None, embedding_config=None, vector_store_config=None,
    request=None, door: str = "api",
) -> KBRebuild:  # fmt: skip
    """Validate the new settings and queue a rebuild of `kb` into its next index generation. Only one rebuild per
    KB at a time (Conflict, 409). `kb` must come from the access funnel with kb:update."""
    if rebuild_active(kb) is not None:  # said first: while one runs, no other settings can be judged
        raise Conflict("A rebuild of this knowledge base is already running.", code="rebuild_running")
    configs = rebuild_validate(
        kb=kb, chunking_config=chunking_config, embedding_config=embedding_config,
        vector_store_config=vector_store_config,
    )  # fmt: skip
    with transaction.atomic():
        locked = KnowledgeBase.objects.select_for_update().get(pk=kb.pk)  # two starts at once: one waits
        if rebuild_active(locked) is not None:
            raise Conflict("A rebuild of this knowledge base is already running.", code="rebuild_running")
        # A failed or cancelled rebuild used its number (its rows may still be being deleted): never reuse one.
        last = locked.rebuilds.aggregate(n=Max("generation"))["n"] or 0
        rebuild = KBRebuild.objects.create(
            kb=locked,
            generation=max(locked.generation, last) + 1,
            created_by=user,
            documents_total=locked.documents.filter(status=DocumentStatus.READY).count(),
            heartbeat_at=timezone.now(),  # when it was queued: the sweeper resends a message lost for long
            **configs,
        )
        audit_record(
            event_type="knowledge_base", action="rebuild_start", user=user, request=request,
            workspace=locked.workspace, resource=locked,
            details={"rebuild_id": str(rebuild.pk), "generation": rebuild.generation, "door": door,
                     "documents": rebuild.documents_total, **_changes(locked, configs)},
        )  # fmt: skip
        _enqueue(rebuild.pk)
        transaction.on_commit(lambda: KB_REBUILDS.labels(outcome="started").inc())
    return rebuild


def _changes(kb: KnowledgeBase, configs: dict) -> dict:
    return {f"new_{f}": configs[f] for f in SETTINGS_FIELDS if configs[f] != getattr(kb, f)}


def rebuild_cancel(*, rebuild: KBRebuild, user, request=None, door: str = "api") -> KBRebuild:
    """Cancel a queued or running rebuild: its rows are deleted, the KB keeps serving its current generation.
    A rebuild that already ended is a Conflict (409)."""
    with transaction.atomic():
        # The worker's per-document write locks the rebuild row too: a write in flight commits first, and every
        # later one finds the rebuild cancelled and writes nothing, so the cleanup below deletes every row.
        moved = REBUILDS.move(
            rebuild.pk, R.CANCELLED, only_from=ACTIVE, error=f"Cancelled by {getattr(user, 'email', '') or 'a user'}.",
            finished_at=timezone.now(),
        )  # fmt: skip
        if not moved:
            raise Conflict("This rebuild has already ended.", code="rebuild_not_running")
        rebuild.refresh_from_db()
        audit_record(
            event_type="knowledge_base", action="rebuild_cancel", user=user, request=request,
            workspace=rebuild.kb.workspace, resource=rebuild.kb,
            details={"rebuild_id": str(rebuild.pk), "generation": rebuild.generation, "door": door,
                     "documents_done": rebuild.documents_done},
        )  # fmt: skip
        rebuild_id = str(rebuild.pk)
        transaction.on_commit(lambda: KB_REBUILDS.labels(outcome="cancelled").inc())
        transaction.on_commit(lambda: _send_cleanup(rebuild_id))
    return rebuild


def _send_cleanup(rebuild_id: str) -> None:
    from kb.actors import rebuild_cleanup

    rebuild_cleanup.send(rebuild_id)
