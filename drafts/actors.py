import dramatiq

from drafts import processing


@dramatiq.actor(queue_name="drafts", max_retries=0, time_limit=2 * 3600 * 1000)
def parse_draft_source(source_id: str) -> None:
    processing.parse_source(source_id)


@dramatiq.actor(queue_name="drafts", max_retries=0, time_limit=6 * 3600 * 1000)
def crawl_draft_source(source_id: str) -> None:
    processing.crawl_source(source_id)
