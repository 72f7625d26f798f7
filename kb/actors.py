"""Dramatiq actors: thin wrappers that take an id and call the pipeline runner."""

import dramatiq

from kb.pipeline import runner

# Dramatiq's own retries are off: the runner counts attempts in the database (so a killed worker's
# attempt counts too) and re-enqueues or quarantines by itself.
# time_limit is a backstop far above any real document; the sweeper handles silent workers.


@dramatiq.actor(queue_name="ingest", max_retries=0, time_limit=6 * 3600 * 1000)
def process_document(document_id: str) -> None:
    runner.process(document_id)


@dramatiq.actor(queue_name="default", max_retries=0)
def sweep_documents() -> None:
    runner.quarantine_or_requeue_stale()
