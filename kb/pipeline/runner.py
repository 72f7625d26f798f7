"""Runs the pipeline for one document: claim -> parse -> chunk -> embed -> store.

Every status write goes through the document state machine (kb.states) and is guarded by this run's
attempt number, taken when the document was claimed: if the sweeper gave the document to another worker,
or it was deleted, this run's next write does nothing and the run stops (Superseded) without touching
chunks. A message is only processed if the document is queued or its last worker went silent, so
duplicate or redelivered messages are harmless; attempts are counted before work starts, and failures end
as `failed` (a reason retrying cannot fix) or, after DOCUMENT_MAX_ATTEMPTS, `quarantined`.

This is a task body: it returns an Outcome and never sends messages; kb.actors does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F, Func, JSONField, Q, Value
from django.utils import timezone

from kb import states, versions
from kb.models import IN_PROGRESS, Document, DocumentStatus, KnowledgeBase
from kb.pipeline.elements import elements_load, elements_save
from kb.pipeline.types import PipelineError
from privexbot.logs import bind, log_scope
from privexbot.metrics import definitions as metrics

logger = logging.getLogger(__name__)

# Progress ranges of each stage (embedding dominates the time).
STAGES = {
    DocumentStatus.PARSING: (0, 20),
    DocumentStatus.CHUNKING: (20, 25),
    DocumentStatus.EMBEDDING: (25, 92),
    DocumentStatus.INDEXING: (92, 100),
}


@dataclass(frozen=True)
class Outcome:
    """What a run ended in. status None: the message was not this worker's to process (nothing done).
    retry_after_ms: set when the document was queued again and a message must be sent after that delay."""

    status: str | None
    retry_after_ms: int | None = None


class Superseded(Exception):
    """The document was deleted, or another worker took it over, while this run was on it."""


def claim(document_id) -> Document | None:
    """Take the document for this worker, or None when someone else has it or it needs no work."""
    now = timezone.now()
    claimable = Q(status=DocumentStatus.QUEUED) | states.worker_silent()
    moved = states.move(
        document_id,
        DocumentStatus.PARSING,
        when=claimable,
        attempts=F("attempts") + 1,
        heartbeat_at=now,
        progress=0,
        error="",
        error_code="",
        stage_times={"started": now.isoformat(), DocumentStatus.PARSING: now.isoformat()},
    )
    return Document.objects.select_related("kb__workspace").get(pk=document_id) if moved else None


class Reporter:
    """Stage and progress updates of one run; every write also refreshes the heartbeat."""

    def __init__(self, document: Document):
        self.document = document
        self.attempt = document.attempts  # this run's token: writes only land while it is still ours
        self.stage_times = dict(document.stage_times or {})
        self.current = document.status  # the stage this run is in
        self._last_write = 0.0

    @property
    def ours(self) -> Q:
        return Q(attempts=self.attempt)

    def stage(self, status: str) -> None:
        self.stage_times[status] = timezone.now().isoformat()
        low, _ = STAGES[status]
        if not states.move(
            self.document.pk, status, only_from=[self.current], when=self.ours,
            progress=low, stage_times=self.stage_times, heartbeat_at=timezone.now(),
        ):  # fmt: skip
            raise Superseded
        self.current = status

    def fraction(self, done: float) -> None:
        """Progress inside the current stage (0..1); throttled to one write per second."""
        if time.monotonic() - self._last_write < 1.0 and done < 1.0:
            return
        self._last_write = time.monotonic()
        low, high = STAGES[self.current]
        Document.objects.filter(self.ours, pk=self.document.pk, status=self.current).update(
            progress=int(low + (high - low) * done), heartbeat_at=timezone.now()
        )

    def pages(self, done: int, total: int) -> None:
        """A PDF read in page ranges (kb.pipeline.pdf_split): the parse stage's share of the progress moves with
        the pages, and stats["parse_pages"] says how many (the documents list and the API show it). Merged in
        SQL, so nothing else in stats is lost; stats, not metadata: a metadata change is a change of what search
        serves (migration 0011's trigger) and would empty the KB's result cache. Throttled like fraction()."""
        if time.monotonic() - self._last_write < 1.0 and 0 < done < total:
            return
        self._last_write = time.monotonic()
        low, high = STAGES[DocumentStatus.PARSING]
        pages = Value({"parse_pages": {"done": done, "total": total}}, output_field=JSONField())
        Document.objects.filter(self.ours, pk=self.document.pk, status=DocumentStatus.PARSING).update(
            progress=int(low + (high - low) * done / max(1, total)),
            stats=Func(F("stats"), pages, template="(%(expressions)s)", arg_joiner=" || ", output_field=JSONField()),
            heartbeat_at=timezone.now(),
        )


def heartbeat(document_id, attempt: int):
    """Keeps heartbeat_at fresh while a long step (a 1000-page parse) runs without progress writes."""
    from privexbot.heartbeat import keep_alive

    return keep_alive(
        lambda: Document.objects.filter(pk=document_id, status__in=IN_PROGRESS, attempts=attempt).update(
            heartbeat_at=timezone.now()
        ),
        interval=max(1.0, settings.DOCUMENT_STALE_AFTER / 4),
        name=f"doc-heartbeat-{document_id}",
    )


@log_scope
def process(document_id, *, parsed: Callable[[], object] | None = None) -> Outcome:
    """The task body of kb.actors.process_document. `parsed`, when given, is called once the document's elements
    are in hand (parsed, or loaded from storage): the actor frees the workspace's parse slot there, so chunking,
    embedding and storing never hold it (a run that ends earlier frees it when the actor's slot context ends)."""
    bind(document_id=document_id)
    document = claim(document_id)
    if document is None:
        return Outcome(None)
    bind(kb_id=document.kb_id, workspace_id=document.kb.workspace_id)
    logger.info("document claimed (attempt %s)", document.attempts)
    reporter = Reporter(document)
    started = time.monotonic()
    try:
        with heartbeat(document.pk, reporter.attempt):
            _run_steps(document, reporter, parsed=parsed)
        logger.info("document ready in %.1fs", time.monotonic() - started)
        metrics.DOCUMENTS_PROCESSED.labels(outcome=metrics.READY).inc()
        return Outcome(DocumentStatus.READY)
    except Superseded:
        logger.info("document %s was deleted or taken over while attempt %s ran", document_id, reporter.attempt)
        return Outcome(None)
    except PipelineError as exc:
        return _fail(reporter, exc)
    except Exception as exc:  # an unexpected bug: retry, then quarantine, and keep the reason visible
        logger.exception("processing document %s failed", document_id)
        return _fail(
            reporter,
            PipelineError("internal", f"Unexpected error: {type(exc).__name__}: {exc}", permanent=False),
        )


def _fail(reporter: Reporter, exc: PipelineError) -> Outcome:
    attempts = reporter.attempt
    if exc.permanent:
        status, message = DocumentStatus.FAILED, exc.message
    elif attempts >= settings.DOCUMENT_MAX_ATTEMPTS:
        status, message = DocumentStatus.QUARANTINED, f"Gave up after {attempts} attempts: {exc.message}"
    else:
        status, message = DocumentStatus.QUEUED, f"Attempt {attempts} failed, retrying: {exc.message}"
    moved = states.move(
        reporter.document.pk, status, only_from=IN_PROGRESS, when=reporter.ours,
        error=message, error_code=exc.code, heartbeat_at=None,
    )  # fmt: skip
    if not moved:
        return Outcome(None)
    outcome = {DocumentStatus.QUEUED: metrics.RETRIED, DocumentStatus.FAILED: metrics.FAILED}
    metrics.DOCUMENTS_PROCESSED.labels(outcome=outcome.get(status, metrics.QUARANTINED)).inc()
    logger.warning("document %s after attempt %s: %s", status, attempts, exc.code)  # the code: no text in logs
    if status == DocumentStatus.QUEUED:
        return Outcome(status, retry_after_ms=min(60_000, 2_000 * attempts))
    return Outcome(status)


@dataclass
class Sweep:
    """What the sweeper did, and the documents that need a message (sent by kb.actors)."""

    counts: dict[str, int] = field(default_factory=lambda: {"requeued": 0, "quarantined": 0, "resent": 0})
    to_send: list[str] = field(default_factory=list)


def find_stale() -> Sweep:
    """Documents whose worker went silent are requeued, or quarantined after the last attempt. Queued
    documents whose message may have been lost (unchanged for 10 stale periods) are sent again."""
    sweep = Sweep()
    retried, sweep.counts["quarantined"] = states.DOCUMENTS.sweep(
        states.SILENT_WORKERS, max_attempts=settings.DOCUMENT_MAX_ATTEMPTS
    )
    sweep.to_send += [str(doc.pk) for doc in retried]
    metrics.DOCUMENTS_PROCESSED.labels(outcome=metrics.QUARANTINED).inc(sweep.counts["quarantined"])
    sweep.counts["requeued"] = len(retried)
    lost_cutoff = timezone.now() - timedelta(seconds=10 * settings.DOCUMENT_STALE_AFTER)
    for pk in Document.objects.filter(status=DocumentStatus.QUEUED, updated_at__lt=lost_cutoff).values_list(
        "pk", flat=True
    ):
        if states.move(
            pk, DocumentStatus.QUEUED, only_from=[DocumentStatus.QUEUED], when=Q(updated_at__lt=lost_cutoff)
        ):
            sweep.to_send.append(str(pk))
            sweep.counts["resent"] += 1
    return sweep


# ---------------------------------------------------------------- the steps


def _run_steps(document: Document, reporter: Reporter, *, parsed: Callable[[], object] | None = None) -> None:
    from kb.pipeline import runtime
    from kb.pipeline.chunking import config_hash
    from kb.pipeline.store import NotOwned, embed_with_cache, replace_chunks

    kb: KnowledgeBase = document.kb
    model = kb.embedding_config.get("model", settings.DEFAULT_EMBEDDING_MODEL)
    timings: dict[str, float] = {}

    started = time.perf_counter()
    elements = load_elements(document, attempt=reporter.attempt, on_pages=reporter.pages)
    if parsed is not None:
        parsed()
    timings["parse_s"] = time.perf_counter() - started
    metrics.DOCUMENT_STAGE_SECONDS.labels(stage="parse").observe(timings["parse_s"])

    reporter.stage(DocumentStatus.CHUNKING)
    started = time.perf_counter()
    source = {"document_id": str(document.pk), "document_name": document.name}
    if document.url:
        source["url"] = document.url
    chunks = runtime.chunk_for_model(elements, kb.chunking_config, model, source=source, title=document.name)
    if not chunks:
        raise PipelineError("no_text", "No extractable text: the document produced no chunks.")
    timings["chunk_s"] = time.perf_counter() - started
    metrics.DOCUMENT_STAGE_SECONDS.labels(stage="chunk").observe(timings["chunk_s"])

    reporter.stage(DocumentStatus.EMBEDDING)
    started = time.perf_counter()
    try:
        vectors, stats = embed_with_cache(
            [c.embedding_text for c in chunks],  # the context line + the content: what the preview shows
            model=model,
            # One encode at a time per machine, each on every core (issue 18: concurrent encodes oversubscribed).
            encode=runtime.document_encoder(model),
            # Groups of 8 model batches: the embedder sorts each group by length, so bigger groups pad less
            # (measured ~10% faster than one batch at a time); a killed worker loses at most one group.
            batch_size=settings.EMBEDDING_BATCH_SIZE * 8,
            organization_id=kb.workspace.organization_id,
            owner=lambda: still_owned(document.pk, reporter.attempt),
            on_progress=reporter.fraction,
        )
    except NotOwned:
        raise Superseded from None
    timings["embed_s"] = time.perf_counter() - started
    metrics.DOCUMENT_STAGE_SECONDS.labels(stage="embed").observe(timings["embed_s"])

    reporter.stage(DocumentStatus.INDEXING)
    started = time.perf_counter()
    with transaction.atomic():
        locked = Document.objects.select_for_update().filter(pk=document.pk, attempts=reporter.attempt).first()
        if locked is None:
            raise Superseded
        version = locked.version + 1
        replace_chunks(
            document_id=document.pk,
            kb_id=kb.pk,
            language=kb.language,
            version=version,
            chunks=chunks,
            vectors=vectors,
            made_for=kb.generation,  # chunked with that generation's settings (a rebuild may have switched since)
        )
        timings["store_s"] = time.perf_counter() - started
        metrics.DOCUMENT_STAGE_SECONDS.labels(stage="store").observe(timings["store_s"])
        ready = states.move(
            document.pk,
            DocumentStatus.READY,
            only_from=[DocumentStatus.INDEXING],
            when=reporter.ours,
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
        if not ready:
            raise Superseded  # rolls the new chunks back: the previous version stays whole
        # A new version of a file: the versions it replaces leave search at this commit, as its chunks arrive.
        versions.on_ready(document.pk)


def still_owned(document_id, attempt: int) -> bool:
    """Inside the caller's transaction: lock the document row if this run still owns it. A deletion
    (kb.deletion) locks the rows first, so a derived write either commits before the deletion looks for
    copies, or waits for it and then finds the row gone and writes nothing."""
    return (
        Document.objects.select_for_update(no_key=True)
        .filter(pk=document_id, attempts=attempt)
        .values_list("pk", flat=True)
        .first()
        is not None
    )


def load_elements(document: Document, *, attempt: int | None = None, on_pages=None) -> list[dict]:
    """Parsed elements: reused when cached (draft preview, earlier attempt), else parsed in a child process
    and kept for the next time (only while `attempt` still owns the document). `on_pages(done, total)` follows
    a long PDF's page ranges while it parses."""
    from privexbot.storage import get_storage

    storage = get_storage()
    if document.elements_file and storage.exists(document.elements_file):
        return elements_load(document.elements_file)
    if not document.stored_file:
        raise PipelineError("missing_source", "The document has neither a stored file nor parsed content.")

    from kb.pipeline.filecheck import check_file
    from kb.pipeline.parse import configured_budget, parse_in_subprocess
    from privexbot import sandbox

    # The plaintext copy the parsers need lives in this worker's private directory (0700, on tmpfs where there is
    # one; swept if the worker is killed). The document id in the name: a deletion removes what a run left there
    # (kb.deletion).
    with sandbox.scratch(f"pxb-parse-{document.pk}-") as tmp:
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
            [(str(path), filetype)],
            memory_mb=settings.PARSE_MAX_MEMORY_MB,
            timeout=settings.PARSE_TIMEOUT,
            budget=configured_budget(),
            organization_id=document.kb.workspace.organization_id,
            on_progress=(lambda _item, done, total: on_pages(done, total)) if on_pages else None,
        )
    if isinstance(result, PipelineError):
        raise result
    elements_file = elements_save(result)
    owner = Document.objects.filter(pk=document.pk)
    if attempt is not None:
        owner = owner.filter(attempts=attempt)
    if not owner.update(elements_file=elements_file):
        storage.delete(elements_file)  # deleted or taken over meanwhile: leave no orphan copy of its text
        raise Superseded
    document.elements_file = elements_file
    return result
