"""Dramatiq actors for draft sources: take an id, call the task body in drafts.processing."""

import logging

import dramatiq

from drafts import processing
from drafts.selectors import source_parse_workspace
from privexbot.metrics.definitions import PARSE_SLOT_WAITS
from privexbot.slots import SlotsBusy, parse_slot, slot_retry_delay_ms

logger = logging.getLogger(__name__)


@dramatiq.actor(queue_name="drafts", max_retries=0, time_limit=2 * 3600 * 1000)
def parse_draft_source(source_id: str) -> None:
    workspace_id = source_parse_workspace(source_id)
    if workspace_id is None:  # not waiting for a worker: parse_source finds nothing to do
        processing.parse_source(source_id)
        return
    try:
        with parse_slot(workspace_id):  # fairness between workspaces (privexbot.slots)
            status = processing.parse_source(source_id)
    except SlotsBusy:
        PARSE_SLOT_WAITS.labels(kind="draft_source").inc()
        parse_draft_source.send_with_options(args=(str(source_id),), delay=slot_retry_delay_ms())
        return
    _warm_preview(source_id, status)


@dramatiq.actor(queue_name="drafts", max_retries=0, time_limit=6 * 3600 * 1000)
def crawl_draft_source(source_id: str) -> None:
    _warm_preview(source_id, processing.crawl_source(source_id))


def _warm_preview(source_id, status) -> None:
    """A source just parsed or crawled is chunked here with its draft's config into the preview cache, outside the
    parse slot: the wizard's first preview of it is then a read. A failure only costs that head start."""
    if status != "completed":
        return
    from drafts.preview_cache import warm

    try:
        warm(source_id)
    except Exception:
        logger.exception("preview cache not warmed")


@dramatiq.actor(queue_name="drafts", max_retries=0, time_limit=6 * 3600 * 1000)
def sync_website_source(run_id: str) -> None:
    from drafts.sync.runner import run_sync

    run_sync(run_id)


@dramatiq.actor(queue_name="drafts", max_retries=0, time_limit=3600 * 1000)
def fill_preview(row_id: int) -> None:
    """Chunk a huge source whole into the preview cache (its first pages were shown from its first rows)."""
    from drafts.preview_cache import fill

    fill(row_id)


ACTOR_FOR_TYPE = {"file_upload": parse_draft_source, "website_crawl": crawl_draft_source}


def sweep_sources() -> dict[str, int]:
    """Periodic job (settings.PERIODIC_JOBS): retry or give up sources whose worker went silent."""
    sweep = processing.find_stale()
    for source_type, source_id in sweep.to_send:
        ACTOR_FOR_TYPE[source_type].send(source_id)
    return {**sweep.counts, **_website_syncs_periodic()}


def _website_syncs_periodic() -> dict[str, int]:
    """Website re-syncs (drafts.sync): retry or fail silent ones, then start the scheduled ones that are due."""
    from drafts.sync.services import sync_sweep, syncs_start_due

    retried, failed = sync_sweep()
    for run_id in retried:
        sync_website_source.send(run_id)
    counts = {"syncs_requeued": len(retried), "syncs_failed": failed, "syncs_started": syncs_start_due()}
    return {k: v for k, v in counts.items() if v}
