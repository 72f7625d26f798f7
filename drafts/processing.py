"""Task bodies for draft sources: parse an upload once, crawl a website, sweep silent workers.

Status writes go through the draft-source state machine (drafts.states), guarded by the run's attempt.
Nothing here sends messages: drafts.actors does.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from drafts import states
from drafts.models import DraftSource, SourceStatus
from kb.pipeline.elements import elements_save
from kb.pipeline.types import PipelineError
from privexbot.logs import bind, log_scope

logger = logging.getLogger(__name__)


def _claim(source_id) -> DraftSource | None:
    """Take a pending source for this worker (counting the attempt), or None when it is not pending."""
    moved = states.move(source_id, SourceStatus.PROCESSING, attempts=F("attempts") + 1, heartbeat_at=timezone.now())
    source = DraftSource.objects.select_related("draft").filter(pk=source_id).first() if moved else None
    if source is not None:
        bind(draft_id=source.draft_id, workspace_id=source.draft.workspace_id, kb_id=source.draft.target_kb_id)
        logger.info("draft source claimed (attempt %s)", source.attempts)
    return source


class _Run:
    """One worker's run on a source: every write is guarded by the attempt it claimed, so a run the
    sweeper gave to another worker (or whose source was removed) changes nothing."""

    def __init__(self, source: DraftSource):
        self.source_id = source.pk
        self.ours = Q(attempts=source.attempts)
        self._last_pages = 0.0

    def progress(self, **fields) -> None:
        DraftSource.objects.filter(self.ours, pk=self.source_id).update(
            heartbeat_at=timezone.now(), updated_at=timezone.now(), **fields
        )

    def pages(self, _item: int, done: int, total: int) -> None:
        """A long PDF read in page ranges (kb.pipeline.pdf_split): pages read / pages total, in the fields a
        crawl fills with pages fetched / found (the sources list and the API show them); one write a second."""
        if time.monotonic() - self._last_pages < 1.0 and 0 < done < total:
            return
        self._last_pages = time.monotonic()
        self.progress(pages_found=total, pages_processed=done)

    def finish(self, status: str, **fields) -> bool:
        moved = states.move(
            self.source_id, status, only_from=[SourceStatus.PROCESSING], when=self.ours, heartbeat_at=None, **fields
        )
        if moved:  # the error code only: an error message may quote the source
            logger.info("draft source %s%s", status, f" ({fields['error_code']})" if fields.get("error_code") else "")
        return moved

    def keep_alive(self):
        from privexbot.heartbeat import keep_alive

        return keep_alive(
            lambda: DraftSource.objects.filter(self.ours, pk=self.source_id, status=SourceStatus.PROCESSING).update(
                heartbeat_at=timezone.now()
            ),
            interval=max(1.0, settings.DOCUMENT_STALE_AFTER / 4),
            name=f"source-heartbeat-{self.source_id}",
        )

    def complete(self, elements: list, **fields) -> str | None:
        """Store the parsed content and end `completed`; if the run lost its source meanwhile, the stored
        copy is deleted again so no orphan of its text remains."""
        from privexbot.storage import get_storage

        elements_file = elements_save(elements)
        if self.finish(SourceStatus.COMPLETED, elements_file=elements_file, **fields):
            return SourceStatus.COMPLETED
        get_storage().delete(elements_file)
        return None


@dataclass
class Sweep:
    counts: dict[str, int] = field(default_factory=lambda: {"requeued": 0, "failed": 0})
    to_send: list[tuple[str, str]] = field(default_factory=list)  # (source type, source id)


def find_stale() -> Sweep:
    """A source whose worker died mid-parse or mid-crawl (no heartbeat) is retried, and after
    DOCUMENT_MAX_ATTEMPTS ends as an error with the reason, so no source waits forever. The messages are
    sent by drafts.actors.sweep_sources."""
    sweep = Sweep()
    retried, sweep.counts["failed"] = states.SOURCES.sweep(
        states.SILENT_WORKERS, max_attempts=settings.DOCUMENT_MAX_ATTEMPTS
    )
    sweep.to_send = [(source.type, str(source.pk)) for source in retried]
    sweep.counts["requeued"] = len(retried)
    return sweep


def _preview_text(elements: list[dict]) -> str:
    text = "\n\n".join(e.get("text", "") for e in elements if e.get("text"))
    return text[:500]


@log_scope
def parse_source(source_id) -> str | None:
    """Parse an uploaded file once, in a child process with limits; the elements are kept (encrypted)
    so previews never parse again. Returns the final status, or None when there was nothing to do."""
    bind(source_id=source_id)
    from kb.pipeline.parse import configured_budget, parse_in_subprocess
    from privexbot import sandbox
    from privexbot.storage import get_storage

    source = _claim(source_id)
    if source is None:
        return None
    run = _Run(source)
    started = time.perf_counter()
    try:
        # The plaintext copy the parsers need: in this worker's private directory (privexbot.sandbox), parsed by
        # a child that serves this organization only.
        with run.keep_alive(), sandbox.scratch(f"pxb-draft-{source.pk}-") as tmp:
            path = Path(tmp) / f"source.{source.file_type}"
            get_storage().copy_to(source.stored_file, path)
            [result] = parse_in_subprocess(
                [(str(path), source.file_type)],
                memory_mb=settings.PARSE_MAX_MEMORY_MB,
                timeout=settings.PARSE_TIMEOUT,
                budget=configured_budget(),
                organization_id=source.draft.workspace.organization_id,
                on_progress=run.pages,
            )
        if isinstance(result, PipelineError):
            raise result
        pages = sorted({e["page"] for e in result if e.get("page")})
        metadata = {
            **source.metadata,
            "page_count": len(pages) or None,
            "processing_metadata": {
                "elements": len(result),
                "element_types": sorted({e.get("type", "") for e in result}),
                "parse_seconds": round(time.perf_counter() - started, 2),
                "characters": sum(len(e.get("text", "")) for e in result),
            },
        }
        return run.complete(result, content_preview=_preview_text(result), metadata=metadata, error="", error_code="")
    except PipelineError as exc:
        return SourceStatus.ERROR if run.finish(SourceStatus.ERROR, error=exc.message, error_code=exc.code) else None
    except Exception as exc:
        logger.exception("parsing draft source %s failed", source_id)
        message = f"Unexpected error: {type(exc).__name__}"
        return SourceStatus.ERROR if run.finish(SourceStatus.ERROR, error=message, error_code="internal") else None


def operator_crawl_config(url: str, crawl_config: dict, **extra):
    """The user's crawl settings with the operator's (concurrency, timeouts, user agent, private addresses)."""
    from drafts.crawler import validate_crawl_config

    config = validate_crawl_config({**crawl_config, **extra, "start_url": url})
    config.concurrency = settings.CRAWL_MAX_CONCURRENT
    config.timeout = settings.CRAWL_TIMEOUT
    config.user_agent = settings.CRAWL_USER_AGENT
    config.allow_private = settings.CRAWL_ALLOW_PRIVATE
    return config


@log_scope
def crawl_source(source_id) -> str | None:
    """Crawl a website in a child process, reporting pages found / processed while it runs;
    cancellable (cancel_requested, or the source removed)."""
    bind(source_id=source_id)
    from drafts.crawler import start_crawl
    from privexbot import sandbox

    source = _claim(source_id)
    if source is None:
        return None
    run = _Run(source)
    config = operator_crawl_config(source.url, source.crawl_config)
    pages, report = [], []
    cancelled = False
    # The pages (plaintext) land in this worker's private directory, swept if the worker is killed mid-crawl.
    with sandbox.scratch(f"pxb-crawl-{source.pk}-") as out_dir:
        handle = start_crawl(config, out_dir=out_dir)
        try:
            while True:
                progress = handle.wait(timeout=1.0)
                for page in handle.pages():
                    _collect(page, pages, report)
                row = (
                    DraftSource.objects.filter(run.ours, pk=source_id)
                    .values_list("cancel_requested", flat=True)
                    .first()
                )
                if row is None or row:
                    handle.cancel()
                    cancelled = True
                    for page in handle.pages():
                        _collect(page, pages, report)
                    progress = handle.poll()
                run.progress(pages_found=progress.pages_found, pages_processed=progress.pages_processed)
                if progress.finished or cancelled:
                    break
        finally:
            handle.cancel()
    fields = {"crawl_report": report, "pages_processed": len(pages), "pages_found": max(len(report), len(pages))}
    if pages:
        return run.complete(
            pages,
            content_preview=_preview_text(pages[0]["elements"]),
            error="Crawl cancelled; the pages fetched so far are kept." if cancelled else "",
            error_code="cancelled" if cancelled else "",
            **fields,
        )
    reason = progress.error or "No HTML pages could be fetched from this URL."
    error = "Crawl cancelled." if cancelled else reason
    if run.finish(SourceStatus.ERROR, error=error, error_code="crawl_failed", **fields):
        return SourceStatus.ERROR
    return None


def _collect(page, pages: list, report: list) -> None:
    report.append({
        "url": page.url, "status": page.status, "depth": page.depth, "title": page.title,
        "error": page.error, "skipped_reason": page.skipped_reason, "stored": bool(page.ok),
    })  # fmt: skip
    if page.ok and page.elements:
        text_hash = page.content_hash or hashlib.sha256("".join(e["text"] for e in page.elements).encode()).hexdigest()
        pages.append({
            "url": page.url, "title": page.title, "content_hash": text_hash, "elements": page.elements,
            "etag": page.etag, "last_modified": page.last_modified, "links": page.links or [],
        })  # fmt: skip
