"""Background work on draft sources (parse an upload once; crawl a website) and every status write of a source."""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from drafts.models import DraftSource, SourceStatus
from kb.pipeline.types import PipelineError

logger = logging.getLogger(__name__)


def _claim(source_id) -> DraftSource | None:
    claimed = DraftSource.objects.filter(pk=source_id, status=SourceStatus.PENDING).update(
        status=SourceStatus.PROCESSING
    )
    return DraftSource.objects.filter(pk=source_id).first() if claimed else None


def _set(source_id, **fields) -> None:
    DraftSource.objects.filter(pk=source_id).update(updated_at=timezone.now(), **fields)


def _keep_alive(source_id):
    from privexbot.heartbeat import keep_alive

    return keep_alive(
        lambda: DraftSource.objects.filter(pk=source_id, status=SourceStatus.PROCESSING).update(
            updated_at=timezone.now()
        ),
        interval=max(1.0, settings.DOCUMENT_STALE_AFTER / 4),
        name=f"source-heartbeat-{source_id}",
    )


def sweep_sources() -> dict[str, int]:
    """Periodic: a source whose worker died mid-parse or mid-crawl (no heartbeat) is retried, and after
    DOCUMENT_MAX_ATTEMPTS ends as an error with the reason, so no source waits forever."""
    from datetime import timedelta

    from drafts import actors

    counts = {"requeued": 0, "failed": 0}
    cutoff = timezone.now() - timedelta(seconds=settings.DOCUMENT_STALE_AFTER)
    for source in DraftSource.objects.filter(status=SourceStatus.PROCESSING, updated_at__lt=cutoff):
        attempts = int(source.metadata.get("attempts", 1))
        if attempts >= settings.DOCUMENT_MAX_ATTEMPTS:
            reason = f"The worker stopped (crashed or was killed) while processing this source, {attempts} times."
            counts["failed"] += DraftSource.objects.filter(pk=source.pk, status=SourceStatus.PROCESSING).update(
                status=SourceStatus.ERROR, error=reason, error_code="worker_lost", updated_at=timezone.now()
            )
            continue
        metadata = {**source.metadata, "attempts": attempts + 1}
        if DraftSource.objects.filter(pk=source.pk, status=SourceStatus.PROCESSING).update(
            status=SourceStatus.PENDING, metadata=metadata, updated_at=timezone.now()
        ):
            actor = actors.crawl_draft_source if source.type == "website_crawl" else actors.parse_draft_source
            actor.send(str(source.pk))
            counts["requeued"] += 1
    return counts


def _preview_text(elements: list[dict]) -> str:
    text = "\n\n".join(e.get("text", "") for e in elements if e.get("text"))
    return text[:500]


def parse_source(source_id) -> str | None:
    """Parse an uploaded file once, in a child process with limits; the elements are kept (encrypted)
    so previews never parse again."""
    from kb.pipeline.parse import parse_in_subprocess
    from kb.pipeline.runner import save_elements
    from privexbot.storage import get_storage

    source = _claim(source_id)
    if source is None:
        return None
    started = time.perf_counter()
    try:
        with _keep_alive(source_id), tempfile.TemporaryDirectory(prefix="pxb-draft-") as tmp:
            path = Path(tmp) / f"source.{source.file_type}"
            get_storage().copy_to(source.stored_file, path)
            [result] = parse_in_subprocess(
                [(str(path), source.file_type)], memory_mb=settings.PARSE_MAX_MEMORY_MB, timeout=settings.PARSE_TIMEOUT
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
        if not DraftSource.objects.filter(pk=source_id).exists():
            return None  # removed while parsing
        _set(
            source_id,
            status=SourceStatus.COMPLETED,
            elements_file=save_elements(result),
            content_preview=_preview_text(result),
            metadata=metadata,
            error="",
            error_code="",
        )
        return SourceStatus.COMPLETED
    except PipelineError as exc:
        _set(source_id, status=SourceStatus.ERROR, error=exc.message, error_code=exc.code)
        return SourceStatus.ERROR
    except Exception as exc:
        logger.exception("parsing draft source %s failed", source_id)
        _set(
            source_id, status=SourceStatus.ERROR, error=f"Unexpected error: {type(exc).__name__}", error_code="internal"
        )
        return SourceStatus.ERROR


def crawl_source(source_id) -> str | None:
    """Crawl a website in a child process, reporting pages found / processed while it runs;
    cancellable (cancel_requested, or the source removed)."""
    from drafts.crawler import start_crawl, validate_crawl_config
    from kb.pipeline.runner import save_elements

    source = _claim(source_id)
    if source is None:
        return None
    config = validate_crawl_config({**source.crawl_config, "start_url": source.url})
    config.concurrency = settings.CRAWL_MAX_CONCURRENT
    config.timeout = settings.CRAWL_TIMEOUT
    config.user_agent = settings.CRAWL_USER_AGENT
    config.allow_private = settings.CRAWL_ALLOW_PRIVATE
    pages, report = [], []
    cancelled = False
    with tempfile.TemporaryDirectory(prefix="pxb-crawl-") as out_dir:
        handle = start_crawl(config, out_dir=out_dir)
        try:
            while True:
                progress = handle.wait(timeout=1.0)
                for page in handle.pages():
                    _collect(page, pages, report)
                row = DraftSource.objects.filter(pk=source_id).values_list("cancel_requested", flat=True).first()
                if row is None or row:
                    handle.cancel()
                    cancelled = True
                    for page in handle.pages():
                        _collect(page, pages, report)
                    progress = handle.poll()
                _set(source_id, pages_found=progress.pages_found, pages_processed=progress.pages_processed)
                if progress.finished or cancelled:
                    break
        finally:
            handle.cancel()
    if not DraftSource.objects.filter(pk=source_id).exists():
        return None
    fields = {"crawl_report": report, "pages_processed": len(pages), "pages_found": max(len(report), len(pages))}
    if pages:
        fields.update(
            status=SourceStatus.COMPLETED,
            elements_file=save_elements(pages),
            content_preview=_preview_text(pages[0]["elements"]),
            error="Crawl cancelled; the pages fetched so far are kept." if cancelled else "",
            error_code="cancelled" if cancelled else "",
        )
    else:
        reason = progress.error or "No HTML pages could be fetched from this URL."
        fields.update(
            status=SourceStatus.ERROR, error="Crawl cancelled." if cancelled else reason, error_code="crawl_failed"
        )
    _set(source_id, **fields)
    return fields["status"]


def _collect(page, pages: list, report: list) -> None:
    report.append({
        "url": page.url, "status": page.status, "depth": page.depth, "title": page.title,
        "error": page.error, "skipped_reason": page.skipped_reason, "stored": bool(page.ok),
    })  # fmt: skip
    if page.ok and page.elements:
        text_hash = page.content_hash or hashlib.sha256("".join(e["text"] for e in page.elements).encode()).hexdigest()
        pages.append({"url": page.url, "title": page.title, "content_hash": text_hash, "elements": page.elements})
