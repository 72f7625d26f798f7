"""Dramatiq actors for draft sources: take an id, call the task body in drafts.processing."""

import dramatiq

from drafts import processing
from drafts.selectors import source_parse_workspace
from privexbot.metrics.definitions import PARSE_SLOT_WAITS
from privexbot.slots import SlotsBusy, parse_slot, slot_retry_delay_ms


@dramatiq.actor(queue_name="drafts", max_retries=0, time_limit=2 * 3600 * 1000)
def parse_draft_source(source_id: str) -> None:
    workspace_id = source_parse_workspace(source_id)
    if workspace_id is None:  # not waiting for a worker: parse_source finds nothing to do
        processing.parse_source(source_id)
        return
    try:
        with parse_slot(workspace_id):  # fairness between workspaces (privexbot.slots)
            processing.parse_source(source_id)
    except SlotsBusy:
        PARSE_SLOT_WAITS.labels(kind="draft_source").inc()
        parse_draft_source.send_with_options(args=(str(source_id),), delay=slot_retry_delay_ms())


@dramatiq.actor(queue_name="drafts", max_retries=0, time_limit=6 * 3600 * 1000)
def crawl_draft_source(source_id: str) -> None:
    processing.crawl_source(source_id)


@dramatiq.actor(queue_name="drafts", max_retries=0, time_limit=6 * 3600 * 1000)
def sync_website_source(run_id: str) -> None:
    from drafts.sync.runner import run_sync

    run_sync(run_id)


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
