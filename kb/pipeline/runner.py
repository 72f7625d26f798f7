"""Runs the pipeline for one document and owns every status write of a document.

claim -> parse -> chunk -> embed -> store, each stage recorded with progress and a heartbeat.
A message is only processed if the document is queued or its last worker went silent, so duplicate
or redelivered messages are harmless; attempts are counted before work starts, and failures end as
`failed` (a reason retrying cannot fix) or, after DOCUMENT_MAX_ATTEMPTS, `quarantined`.
"""

from __future__ import annotations

import gzip
import json
import logging
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from kb.models import IN_PROGRESS, Document, DocumentStatus, KnowledgeBase
from kb.pipeline.types import PipelineError

logger = logging.getLogger(__name__)

# Progress ranges of each stage (embedding dominates the time).
STAGES = {
    DocumentStatus.PARSING: (0, 20),
    DocumentStatus.CHUNKING: (20, 25),
    DocumentStatus.EMBEDDING: (25, 92),
    DocumentStatus.INDEXING: (92, 100),
}


def stale_cutoff():
    return timezone.now() - timedelta(seconds=settings.DOCUMENT_STALE_AFTER)


def claim(document_id) -> Document | None:
    """Take the document for this worker, or None when someone else has it or it needs no work."""
    now = timezone.now()
    claimable = Q(status=DocumentStatus.QUEUED) | Q(status__in=IN_PROGRESS, heartbeat_at__lt=stale_cutoff())
    updated = (
        Document.objects.filter(claimable, pk=document_id)
        .select_for_update(skip_locked=True)
        .values_list("pk", flat=True)
    )
    with transaction.atomic():
        if not list(updated):
            return None
        Document.objects.filter(pk=document_id).update(
            status=DocumentStatus.PARSING,
            attempts=F("attempts") + 1,
            heartbeat_at=now,
            progress=0,
            error="",
            error_code="",
            stage_times={"started": now.isoformat(), DocumentStatus.PARSING: now.isoformat()},
        )
    return Document.objects.select_related("kb").get(pk=document_id)


class Reporter:
    """Stage and progress updates; every write also refreshes the heartbeat."""

    def __init__(self, document: Document):
        self.document = document
        self.stage_times = dict(document.stage_times or {})
        self.status = document.status
        self._last_write = 0.0

    def stage(self, status: str) -> None:
        self.status = status
        self.stage_times[status] = timezone.now().isoformat()
        low, _ = STAGES[status]
        Document.objects.filter(pk=self.document.pk).update(
            status=status, progress=low, stage_times=self.stage_times, heartbeat_at=timezone.now()
        )

    def fraction(self, done: float) -> None:
        """Progress inside the current stage (0..1); throttled to one write per second."""
        if time.monotonic() - self._last_write < 1.0 and done < 1.0:
            return
        self._last_write = time.monotonic()
        low, high = STAGES[self.status]
        Document.objects.filter(pk=self.document.pk).update(
            progress=int(low + (high - low) * done), heartbeat_at=timezone.now()
        )


def heartbeat(document_id):
    """Keeps heartbeat_at fresh while a long step (a 1000-page parse) runs without progress writes."""
    from privexbot.heartbeat import keep_alive

    return keep_alive(
        lambda: Document.objects.filter(pk=document_id, status__in=IN_PROGRESS).update(heartbeat_at=timezone.now()),
        interval=max(1.0, settings.DOCUMENT_STALE_AFTER / 4),
        name=f"doc-heartbeat-{document_id}",
    )


def process(document_id) -> str | None:
    """Entry point of the actor. Returns the final status, or None when there was nothing to do."""
    document = claim(document_id)
    if document is None:
        return None
    reporter = Reporter(document)
    try:
        with heartbeat(document.pk):
            _run_steps(document, reporter)
        return DocumentStatus.READY
    except PipelineError as exc:
        return _fail(document, exc)
    except Exception as exc:  # an unexpected bug: retry, then quarantine, and keep the reason visible
        logger.exception("processing document %s failed", document_id)
        return _fail(
            document,
            PipelineError("internal", f"Unexpected error: {type(exc).__name__}: {exc}", permanent=False),
        )


def _fail(document: Document, exc: PipelineError) -> str:
    attempts = Document.objects.values_list("attempts", flat=True).get(pk=document.pk)
    if exc.permanent:
        status, message = DocumentStatus.FAILED, exc.message
    elif attempts >= settings.DOCUMENT_MAX_ATTEMPTS:
        status, message = DocumentStatus.QUARANTINED, f"Gave up after {attempts} attempts: {exc.message}"
    else:
        status, message = DocumentStatus.QUEUED, f"Attempt {attempts} failed, retrying: {exc.message}"
    Document.objects.filter(pk=document.pk).update(status=status, error=message, error_code=exc.code, heartbeat_at=None)
    if status == DocumentStatus.QUEUED:
        from kb.actors import process_document

        process_document.send_with_options(args=(str(document.pk),), delay=min(60_000, 2_000 * attempts))
    return status


def quarantine_or_requeue_stale() -> dict[str, int]:
    """The sweeper: documents whose worker went silent are requeued, or quarantined after the last attempt.
    Queued documents whose message may have been lost (older than 10 stale periods) are sent again."""
    from kb.actors import process_document

    counts = {"requeued": 0, "quarantined": 0, "resent": 0}
    stale = Document.objects.filter(status__in=IN_PROGRESS, heartbeat_at__lt=stale_cutoff())
    for doc in stale.only("pk", "attempts", "status"):
        if doc.attempts >= settings.DOCUMENT_MAX_ATTEMPTS:
            reason = (
                f"The worker stopped (crashed or was killed) while {doc.status} this document, "
                f"{doc.attempts} times; it was set aside so it cannot block the queue."
            )
            n = Document.objects.filter(pk=doc.pk, status=doc.status, heartbeat_at__lt=stale_cutoff()).update(
                status=DocumentStatus.QUARANTINED, error=reason, error_code="worker_lost", heartbeat_at=None
            )
            counts["quarantined"] += n
        else:
            n = Document.objects.filter(pk=doc.pk, status=doc.status, heartbeat_at__lt=stale_cutoff()).update(
                status=DocumentStatus.QUEUED, error="The worker stopped; requeued.", error_code="worker_lost"
            )
            if n:
                transaction.on_commit(lambda pk=str(doc.pk): process_document.send(pk))
                counts["requeued"] += 1
    lost_cutoff = timezone.now() - timedelta(seconds=10 * settings.DOCUMENT_STALE_AFTER)
    for pk in Document.objects.filter(status=DocumentStatus.QUEUED, updated_at__lt=lost_cutoff).values_list(
        "pk", flat=True
    ):
        Document.objects.filter(pk=pk).update(updated_at=timezone.now())
        process_document.send(str(pk))
        counts["resent"] += 1
    return counts


# ---------------------------------------------------------------- the steps


def _run_steps(document: Document, reporter: Reporter) -> None:
    from kb.pipeline import runtime
    from kb.pipeline.chunk import config_hash
    from kb.pipeline.store import embed_with_cache, replace_chunks

    kb: KnowledgeBase = document.kb
    model = kb.embedding_config.get("model", settings.DEFAULT_EMBEDDING_MODEL)
    timings: dict[str, float] = {}

    started = time.perf_counter()
    elements = load_elements(document)
    timings["parse_s"] = time.perf_counter() - started

    reporter.stage(DocumentStatus.CHUNKING)
    started = time.perf_counter()
    source = {"document_id": str(document.pk), "document_name": document.name}
    if document.url:
        source["url"] = document.url
    chunks = runtime.chunk_for_model(elements, kb.chunking_config, model, source=source)
    if not chunks:
        raise PipelineError("no_text", "No extractable text: the document produced no chunks.")
    timings["chunk_s"] = time.perf_counter() - started

    reporter.stage(DocumentStatus.EMBEDDING)
    started = time.perf_counter()
    embedder = runtime.embedder(model)
    vectors, stats = embed_with_cache(
        [c.content for c in chunks],
        model=model,
        encode=lambda texts: embedder.encode(texts, batch_size=settings.EMBEDDING_BATCH_SIZE),
        # Groups of 8 model batches: the embedder sorts each group by length, so bigger groups pad less
        # (measured ~10% faster than one batch at a time); a killed worker loses at most one group.
        batch_size=settings.EMBEDDING_BATCH_SIZE * 8,
        on_progress=reporter.fraction,
    )
    timings["embed_s"] = time.perf_counter() - started

    reporter.stage(DocumentStatus.INDEXING)
    started = time.perf_counter()
    with transaction.atomic():
        locked = Document.objects.select_for_update().get(pk=document.pk)
        version = locked.version + 1
        replace_chunks(
            document_id=document.pk,
            kb_id=kb.pk,
            language=kb.language,
            version=version,
            chunks=chunks,
            vectors=vectors,
        )
        timings["store_s"] = time.perf_counter() - started
        Document.objects.filter(pk=document.pk).update(
            status=DocumentStatus.READY,
            progress=100,
            version=version,
            chunk_count=len(chunks),
            token_count=sum(c.token_count for c in chunks),
            config_hash=config_hash(kb.chunking_config, model),
            heartbeat_at=None,
            error="",
            error_code="",
            stage_times={**reporter.stage_times, "finished": timezone.now().isoformat()},
            stats={
                **{k: round(v, 3) for k, v in timings.items()},
                "chunks": len(chunks),
                "truncated_chunks": sum(c.truncated for c in chunks),
                "embedding_cache_hits": stats.cache_hits,
                "embedded": stats.computed,
                "unique_texts": stats.unique,
            },
        )


def load_elements(document: Document) -> list[dict]:
    """Parsed elements: reused when cached (draft preview, earlier attempt), else parsed in a child process."""
    from privexbot.storage import get_storage

    storage = get_storage()
    if document.elements_file and storage.exists(document.elements_file):
        return json.loads(gzip.decompress(storage.open_bytes(document.elements_file)))
    if not document.stored_file:
        raise PipelineError("missing_source", "The document has neither a stored file nor parsed content.")

    from kb.pipeline.filecheck import check_file
    from kb.pipeline.parse import parse_in_subprocess

    with tempfile.TemporaryDirectory(prefix="pxb-parse-") as tmp:
        path = Path(tmp) / f"source.{document.file_type or 'bin'}"
        storage.copy_to(document.stored_file, path)
        if document.source_type == "file_upload":
            allowed, filename = settings.ALLOWED_FILE_TYPES, document.metadata.get("original_filename") or document.name
        else:  # pasted text: its type is ours, not the user's, and always allowed
            allowed, filename = [document.file_type], path.name
        filetype = check_file(
            filename=filename,
            path=str(path),
            allowed_types=allowed,
            max_size=settings.MAX_FILE_SIZE,
        )
        [result] = parse_in_subprocess(
            [(str(path), filetype)], memory_mb=settings.PARSE_MAX_MEMORY_MB, timeout=settings.PARSE_TIMEOUT
        )
    if isinstance(result, PipelineError):
        raise result
    elements_file = save_elements(result)
    Document.objects.filter(pk=document.pk).update(elements_file=elements_file)
    document.elements_file = elements_file
    return result


def save_elements(elements: list[dict]) -> str:
    from privexbot.storage import get_storage

    return get_storage().save(gzip.compress(json.dumps(elements, ensure_ascii=False).encode(), compresslevel=5))
