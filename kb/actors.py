"""Dramatiq actors: thin wrappers that take an id, call the task body and send what it asks for.

Task bodies (kb.pipeline.runner) never send messages: they return an Outcome, and only this module
talks to the broker, so the pipeline can be run and tested without one.
"""

from contextlib import nullcontext

import dramatiq

from kb.pipeline import runner
from kb.selectors import document_parse_workspace
from privexbot.metrics.definitions import PARSE_SLOT_WAITS
from privexbot.slots import SlotsBusy, parse_slot, slot_retry_delay_ms

# Dramatiq's own retries are off: the runner counts attempts in the database (so a killed worker's
# attempt counts too) and asks for a retry in its Outcome, or quarantines.
# time_limit is a backstop far above any real document; the sweeper handles silent workers.


@dramatiq.actor(queue_name="ingest", max_retries=0, time_limit=6 * 3600 * 1000)
def process_document(document_id: str) -> None:
    workspace_id = document_parse_workspace(document_id)
    try:
        # A document that must be parsed takes one of its workspace's parse slots (fairness, privexbot.slots);
        # when they are all taken this thread goes on to other work and the message comes back shortly. The slot
        # is freed as soon as the elements are in hand: a workspace's other uploads may parse while this one is
        # chunked, embedded and stored (with the slot held for the whole run, one workspace's documents went
        # through the workers one at a time, whatever their number).
        with parse_slot(workspace_id) if workspace_id else nullcontext() as slot:
            outcome = runner.process(document_id, parsed=slot.release if slot is not None else None)
    except SlotsBusy:
        PARSE_SLOT_WAITS.labels(kind="document").inc()
        process_document.send_with_options(args=(str(document_id),), delay=slot_retry_delay_ms())
        return
    if outcome.retry_after_ms is not None:
        process_document.send_with_options(args=(str(document_id),), delay=outcome.retry_after_ms)


@dramatiq.actor(queue_name="ingest", max_retries=0, time_limit=24 * 3600 * 1000)
def rebuild_kb(rebuild_id: str) -> None:
    """A KB's new index generation (kb.rebuild); its old generation is deleted by rebuild_cleanup afterwards."""
    from kb import rebuild_worker

    outcome = rebuild_worker.run(rebuild_id)
    if outcome.cleanup_after_ms is not None:
        rebuild_cleanup.send_with_options(args=(str(rebuild_id),), delay=outcome.cleanup_after_ms)


@dramatiq.actor(queue_name="ingest", max_retries=0)
def rebuild_cleanup(rebuild_id: str) -> None:
    from kb import rebuild_worker

    rebuild_worker.cleanup(rebuild_id)


def sweep_documents() -> dict[str, int]:
    """Periodic job (settings.PERIODIC_JOBS, run in one worker at a time): requeue or quarantine documents
    whose worker went silent, and send the messages the sweep asks for; the same for KB rebuilds."""
    from kb import rebuild_worker

    sweep = runner.find_stale()
    for document_id in sweep.to_send:
        process_document.send(document_id)
    rebuilds = rebuild_worker.find_stale()
    for rebuild_id in rebuilds.to_run:
        rebuild_kb.send(rebuild_id)
    for rebuild_id in rebuilds.to_clean:
        rebuild_cleanup.send(rebuild_id)
    return {**sweep.counts, **{f"rebuilds_{k}": v for k, v in rebuilds.counts.items() if v}}


def retention_periodic() -> dict | None:
    """Periodic job (settings.PERIODIC_JOBS, every RETENTION_INTERVAL): documents past their retention policy,
    and audit events past AUDIT_RETENTION_DAYS, are deleted. Returns the counts when anything happened."""
    from kb.retention import retention_run

    report = retention_run()
    return report.as_dict() if report.deleted_total or report.errors or report.audit_purged else None
