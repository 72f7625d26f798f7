"""Dramatiq actors for draft sources: take an id, call the task body in drafts.processing."""

import dramatiq

from drafts import processing


@dramatiq.actor(queue_name="drafts", max_retries=0, time_limit=2 * 3600 * 1000)
def parse_draft_source(source_id: str) -> None:
    processing.parse_source(source_id)


@dramatiq.actor(queue_name="drafts", max_retries=0, time_limit=6 * 3600 * 1000)
def crawl_draft_source(source_id: str) -> None:
    processing.crawl_source(source_id)


ACTOR_FOR_TYPE = {"file_upload": parse_draft_source, "website_crawl": crawl_draft_source}


def sweep_sources() -> dict[str, int]:
    """Periodic job (settings.PERIODIC_JOBS): retry or give up sources whose worker went silent."""
    sweep = processing.find_stale()
    for source_type, source_id in sweep.to_send:
        ACTOR_FOR_TYPE[source_type].send(source_id)
    return sweep.counts
