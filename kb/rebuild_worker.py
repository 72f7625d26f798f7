"""The task body of a rebuild (kb.rebuild): the KB's ready documents into the new index generation, the switch,
and the deletion of the generation that is no longer served. Returns what to send; kb.actors sends it.

Resumable: a document is done when the new generation holds its chunks for its current version, so a run that
was killed (the sweeper queues it again) or a second pass (documents that became ready meanwhile, or were
reprocessed in the old generation) only does what is missing. Every write is guarded by the run's attempt number
under a lock of the rebuild row, so a run that lost its rebuild, or a rebuild cancelled meanwhile, writes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from kb.models import Chunk, Document, DocumentStatus, KBRebuild, KnowledgeBase
from kb.models import RebuildStatus as R
from kb.pipeline.types import PipelineError
from kb.rebuild import ENDED, REBUILDS, SILENT_WORKERS, worker_silent
from privexbot.audit import audit_record
from privexbot.logs import bind, log_scope
from privexbot.metrics.definitions import KB_REBUILD_DOCUMENTS, KB_REBUILDS

logger = logging.getLogger(__name__)

# Searches load the KB (its generation and model) when they start: the old generation stays a few seconds
# after the switch so one that started just before it still finds its rows.
OLD_GENERATION_GRACE_MS = 5_000
DELETE_BATCH = 2_000
MAX_PASSES = 20  # documents keep becoming ready while it runs: after this many passes it fails (says why)


@dataclass(frozen=True)
class Outcome:
    status: str | None
    cleanup_after_ms: int | None = None  # send rebuild_cleanup after this delay


class Lost(Exception):
    """The rebuild was cancelled, failed or given to another run while this run was on it."""


def document_chunks(document: Document, elements, *, chunking_config: dict, model: str):
    """A document's chunks with given settings: the call the rebuild makes, and the settings draft's preview
    (drafts.settings_draft), with the source metadata the worker gives (kb.pipeline.runner)."""
    from kb.pipeline import runtime

    source = {"document_id": str(document.pk), "document_name": document.name}
    if document.url:
        source["url"] = document.url
    return runtime.chunk_for_model(elements, chunking_config, model, source=source, title=document.name)


def pending_documents(rebuild: KBRebuild):
    """Ready documents of the KB the new generation does not hold yet (for their current version)."""
    built = Chunk.objects.filter(document=OuterRef("pk"), generation=rebuild.generation, version=OuterRef("version"))
    return Document.objects.filter(kb_id=rebuild.kb_id, status=DocumentStatus.READY).exclude(Exists(built))


def claim(rebuild_id) -> KBRebuild | None:
    now = timezone.now()
    moved = REBUILDS.move(
        rebuild_id, R.RUNNING, when=Q(status=R.QUEUED) | worker_silent(), attempts=F("attempts") + 1,
        heartbeat_at=now, error="",
    )  # fmt: skip
    if not moved:
        return None
    KBRebuild.objects.filter(pk=rebuild_id, started_at__isnull=True).update(started_at=now)
    return KBRebuild.objects.select_related("kb__workspace").get(pk=rebuild_id)


def _ours(rebuild: KBRebuild) -> Q:
    return Q(pk=rebuild.pk, status=R.RUNNING, attempts=rebuild.attempts)


def _lock_ours(rebuild: KBRebuild) -> None:
    """Inside a transaction: lock the rebuild row if this run still has it (a cancel waits for the write)."""
    if not KBRebuild.objects.select_for_update(no_key=True).filter(_ours(rebuild)).exists():
        raise Lost


@log_scope
def run(rebuild_id) -> Outcome:
    """The task body of kb.actors.rebuild_kb."""
    rebuild = claim(rebuild_id)
    if rebuild is None:
        return Outcome(None)
    bind(kb_id=rebuild.kb_id, workspace_id=rebuild.kb.workspace_id)
    logger.info("rebuild %s claimed (attempt %s, generation %s)", rebuild.pk, rebuild.attempts, rebuild.generation)
    try:
        with _heartbeat(rebuild):
            return _run(rebuild)
    except Lost:
        logger.info("rebuild %s was cancelled or taken over while attempt %s ran", rebuild_id, rebuild.attempts)
        return Outcome(None)
    except PipelineError as exc:
        return _fail(rebuild, exc.code, exc.message)
    except Exception as exc:  # an unexpected bug: the KB keeps serving; the reason stays visible
        logger.exception("rebuild %s failed", rebuild_id)
        return _fail(rebuild, "internal", f"Unexpected error: {type(exc).__name__}: {exc}")


def _run(rebuild: KBRebuild) -> Outcome:
    from kb.pipeline import runtime

    model = rebuild.embedding_config.get("model") or settings.DEFAULT_EMBEDDING_MODEL
    try:
        # The workers' encode (one encode turn per machine, threads' calls combined), as the pipeline embeds.
        encode = runtime.document_encoder(model)
    except PipelineError as exc:
        raise PipelineError("model_missing", f"The embedding model {model} cannot be loaded: {exc.message}") from None
    stats = dict(rebuild.stats or {})
    for _ in range(MAX_PASSES):
        pending = list(pending_documents(rebuild).order_by("created_at", "pk"))
        if not pending:
            if _switch_or_retry(rebuild, model):
                return Outcome(R.COMPLETED, cleanup_after_ms=OLD_GENERATION_GRACE_MS)
            continue  # a document became ready under the switch's lock: one more pass
        KBRebuild.objects.filter(_ours(rebuild)).update(
            documents_total=Document.objects.filter(kb_id=rebuild.kb_id, status=DocumentStatus.READY).count(),
            heartbeat_at=timezone.now(),
        )
        for document in pending:
            counts = _rebuild_document(rebuild, document, encode, model)
            for key, value in counts.items():
                stats[key] = stats.get(key, 0) + value
            KBRebuild.objects.filter(_ours(rebuild)).update(
                documents_done=F("documents_done") + int(bool(counts)), stats=stats, heartbeat_at=timezone.now()
            )
    raise PipelineError("no_quiet_moment", f"Documents kept changing during {MAX_PASSES} passes; start it again.")


def _rebuild_document(rebuild: KBRebuild, document: Document, encode, model: str) -> dict:
    """Chunk, embed and store one document in the new generation; {} when it changed or went meanwhile."""
    from kb.pipeline.runner import load_elements
    from kb.pipeline.store import NotOwned, embed_with_cache, replace_chunks

    kb = rebuild.kb
    elements = load_elements(document)  # the cached parsed elements; parsed again only if they were lost
    chunks = document_chunks(document, elements, chunking_config=rebuild.chunking_config, model=model)
    if not chunks:
        raise PipelineError("no_text", f"{document.name}: the new settings produce no chunks.")

    def owner() -> bool:  # runs in cache_store's transaction: the rebuild and the document still there
        return _still(rebuild) and Document.objects.select_for_update(no_key=True).filter(pk=document.pk).exists()

    try:
        vectors, embed_stats = embed_with_cache(
            [c.embedding_text for c in chunks], model=model,
            encode=encode,
            batch_size=settings.EMBEDDING_BATCH_SIZE * 8, organization_id=kb.workspace.organization_id, owner=owner,
        )  # fmt: skip
    except NotOwned:
        if not _still(rebuild):
            raise Lost from None
        return {}  # the document was deleted meanwhile
    with transaction.atomic():
        _lock_ours(rebuild)
        current = (
            Document.objects.select_for_update(no_key=True)
            .filter(pk=document.pk, status=DocumentStatus.READY, version=document.version)
            .exists()
        )
        if not current:
            return {}  # reprocessed or deleted meanwhile: the next pass takes its new version
        replace_chunks(
            document_id=document.pk, kb_id=kb.pk, language=kb.language, version=document.version, chunks=chunks,
            vectors=vectors, generation=rebuild.generation,
        )  # fmt: skip
    KB_REBUILD_DOCUMENTS.inc()
    return {"chunks": len(chunks), "embedding_cache_hits": embed_stats.cache_hits, "embedded": embed_stats.computed}


def _still(rebuild: KBRebuild) -> bool:
    return KBRebuild.objects.filter(_ours(rebuild)).exists()


def _switch_or_retry(rebuild: KBRebuild, model: str) -> bool:
    """_switch; a deadlock with a worker storing a document (PostgreSQL aborts one of the two) is another pass."""
    from django.db import OperationalError
    from psycopg import errors

    try:
        return _switch(rebuild, model)
    except OperationalError as exc:
        if isinstance(exc.__cause__, errors.DeadlockDetected):
            logger.info("rebuild switch met a deadlock; trying again")
            return False
        raise


def _switch(rebuild: KBRebuild, model: str) -> bool:
    """ONE transaction: the KB takes the new settings and generation, which search reads from then on."""
    from kb.pipeline.chunking import config_hash

    with transaction.atomic():
        # FOR UPDATE on the KB row: a worker storing a document in the serving generation holds it FOR KEY SHARE
        # (kb.pipeline.store), so it either committed before (and is pending below) or finds the new generation.
        KnowledgeBase.objects.select_for_update().filter(pk=rebuild.kb_id).exists()
        _lock_ours(rebuild)
        if pending_documents(rebuild).exists():
            return False
        KnowledgeBase.objects.filter(pk=rebuild.kb_id).update(
            chunking_config=rebuild.chunking_config, embedding_config=rebuild.embedding_config,
            vector_store_config=rebuild.vector_store_config, generation=rebuild.generation, updated_at=timezone.now(),
        )  # fmt: skip
        done = pending_total = Document.objects.filter(kb_id=rebuild.kb_id, status=DocumentStatus.READY).count()
        REBUILDS.move(
            rebuild.pk, R.COMPLETED, only_from=[R.RUNNING], when=_ours(rebuild), finished_at=timezone.now(),
            documents_total=pending_total, documents_done=done, heartbeat_at=None,
        )  # fmt: skip
        kb = rebuild.kb
        audit_record(
            event_type="knowledge_base", action="rebuild_switch", user=rebuild.created_by, workspace=kb.workspace,
            resource=kb, details={"rebuild_id": str(rebuild.pk), "generation": rebuild.generation,
                                  "previous_generation": kb.generation, "documents": done},
        )  # fmt: skip
        transaction.on_commit(lambda: KB_REBUILDS.labels(outcome="switched").inc())
    # The documents' counts now describe the new generation: written after the switch's commit, since a worker
    # storing a document locks its row before the KB's (FOR KEY SHARE), the reverse of the switch's order.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE kb_document d SET chunk_count = s.n, token_count = s.t, config_hash = %s"
            " FROM (SELECT document_id, count(*) AS n, sum(token_count) AS t FROM kb_chunk"
            "       WHERE kb_id = %s AND generation = %s GROUP BY document_id) s"
            " WHERE d.id = s.document_id",
            [config_hash(rebuild.chunking_config, model), str(rebuild.kb_id), rebuild.generation],
        )
    logger.info("rebuild switched the KB to generation %s", rebuild.generation)
    return True


def _fail(rebuild: KBRebuild, code: str, message: str) -> Outcome:
    moved = REBUILDS.move(
        rebuild.pk, R.FAILED, only_from=[R.RUNNING], when=_ours(rebuild), error=message[:2000],
        finished_at=timezone.now(), heartbeat_at=None, stats={**(rebuild.stats or {}), "error_code": code},
    )  # fmt: skip
    if not moved:
        return Outcome(None)
    _audit_failed(rebuild, code)
    KB_REBUILDS.labels(outcome="failed").inc()
    logger.warning("rebuild failed: %s", code)  # the code: no document text in logs
    return Outcome(R.FAILED, cleanup_after_ms=0)


def _audit_failed(rebuild: KBRebuild, code: str) -> None:
    kb = rebuild.kb
    audit_record(
        event_type="knowledge_base", action="rebuild_fail", user=rebuild.created_by, workspace=kb.workspace,
        resource=kb, success=False, details={"rebuild_id": str(rebuild.pk), "generation": rebuild.generation,
                                             "error_code": code},
    )  # fmt: skip


def _heartbeat(rebuild: KBRebuild):
    from privexbot.heartbeat import keep_alive

    return keep_alive(
        lambda: KBRebuild.objects.filter(_ours(rebuild)).update(heartbeat_at=timezone.now()),
        interval=max(1.0, settings.DOCUMENT_STALE_AFTER / 4),
        name=f"rebuild-heartbeat-{rebuild.pk}",
    )


# ---------------------------------------------------------------- after the end


def cleanup(rebuild_id) -> int:
    """Delete the rows no one will serve, in batches (each its own transaction): after a switch the older
    generations, after a failure or cancel the rebuild's own. Returns how many rows went."""
    rebuild = KBRebuild.objects.filter(pk=rebuild_id, status__in=ENDED).first()
    if rebuild is None or (rebuild.stats or {}).get("cleaned"):
        return 0
    condition = "generation < %s" if rebuild.status == R.COMPLETED else "generation = %s"
    deleted = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM kb_chunk WHERE id IN (SELECT id FROM kb_chunk WHERE kb_id = %s AND {condition}"  # noqa: S608
                " LIMIT %s)",
                [str(rebuild.kb_id), rebuild.generation, DELETE_BATCH],
            )
            deleted += cursor.rowcount
            if cursor.rowcount < DELETE_BATCH:
                break
    stats = {**(rebuild.stats or {}), "cleaned": True, "rows_deleted": deleted}
    KBRebuild.objects.filter(pk=rebuild.pk).update(stats=stats)
    logger.info("rebuild cleanup deleted %s rows (%s)", deleted, rebuild.status)
    return deleted


@dataclass
class Sweep:
    to_run: list[str]
    to_clean: list[str]
    counts: dict[str, int]


def find_stale() -> Sweep:
    """Rebuilds whose worker went silent resume (or fail after DOCUMENT_MAX_ATTEMPTS); a queued one whose message
    was lost long ago is sent again; an ended one whose rows were never deleted (its cleanup message lost) is
    cleaned up."""
    to_run, given_up = [], 0
    for row in KBRebuild.objects.filter(SILENT_WORKERS.silent()).select_related("kb__workspace"):
        still = SILENT_WORKERS.silent() & Q(attempts=row.attempts)  # a worker that woke up meanwhile keeps it
        if row.attempts >= settings.DOCUMENT_MAX_ATTEMPTS:
            if REBUILDS.move(row.pk, SILENT_WORKERS.give_up_to, when=still, **SILENT_WORKERS.fields(row, True)):
                given_up += 1
                _audit_failed(row, "worker_lost")
        elif REBUILDS.move(row.pk, SILENT_WORKERS.retry_to, when=still, **SILENT_WORKERS.fields(row, False)):
            to_run.append(str(row.pk))
    resumed = len(to_run)
    lost = timezone.now() - timedelta(seconds=10 * settings.DOCUMENT_STALE_AFTER)
    for pk in KBRebuild.objects.filter(status=R.QUEUED, heartbeat_at__lt=lost).values_list("pk", flat=True):
        if REBUILDS.move(
            pk, R.QUEUED, only_from=[R.QUEUED], when=Q(heartbeat_at__lt=lost), heartbeat_at=timezone.now()
        ):
            to_run.append(str(pk))
    if given_up:
        KB_REBUILDS.labels(outcome="failed").inc(given_up)
    ended = timezone.now() - timedelta(milliseconds=OLD_GENERATION_GRACE_MS)
    to_clean = [
        str(pk)
        for pk in KBRebuild.objects.filter(status__in=ENDED, finished_at__lt=ended)
        .exclude(stats__has_key="cleaned")
        .values_list("pk", flat=True)
    ]
    return Sweep(to_run, to_clean, {"resumed": resumed, "given_up": given_up, "cleanups": len(to_clean)})
