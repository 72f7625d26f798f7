"""The task body of a website re-sync: crawl again with conditional requests, plan, apply (or hand the plan to
a review draft). Status writes go through drafts.sync.states, guarded by the run's attempt; nothing here sends
messages (drafts.actors does)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from drafts.crawler.results import PageResult
from drafts.crawler.urls import url_key
from drafts.sync import states
from drafts.sync.plan import Plan, plan_sync
from drafts.sync.sources import PAGE_FIELDS, next_sync_time
from kb.models import SyncRun, SyncStatus, WebsiteSource
from privexbot.audit import audit_record
from privexbot.logs import bind, log_scope
from privexbot.metrics.definitions import WEBSITE_SYNC_PAGES, WEBSITE_SYNCS

logger = logging.getLogger(__name__)


class _Gone(Exception):
    """The run was taken over by another worker (sweeper) or deleted with its source: stop, write nothing."""


class _Run:
    def __init__(self, run: SyncRun):
        self.run_id = run.pk
        self.ours = Q(attempts=run.attempts)

    def alive(self) -> bool:
        return bool(
            SyncRun.objects.filter(self.ours, pk=self.run_id, status=SyncStatus.RUNNING).update(
                heartbeat_at=timezone.now()
            )
        )

    def keep_alive(self):
        from privexbot.heartbeat import keep_alive

        interval = max(1.0, settings.DOCUMENT_STALE_AFTER / 4)
        return keep_alive(self.alive, interval=interval, name=f"sync-heartbeat-{self.run_id}")

    def finish(self, status: str, **fields) -> bool:
        return states.move(
            self.run_id, status, only_from=[SyncStatus.RUNNING], when=self.ours,
            heartbeat_at=None, finished_at=timezone.now(), **fields,
        )  # fmt: skip


def _claim(run_id) -> SyncRun | None:
    moved = states.move(
        run_id, SyncStatus.RUNNING, only_from=[SyncStatus.QUEUED], attempts=F("attempts") + 1,
        heartbeat_at=timezone.now(), started_at=timezone.now(),
    )  # fmt: skip
    if not moved:
        return None
    run = SyncRun.objects.select_related("website_source", "kb__workspace", "created_by").get(pk=run_id)
    bind(kb_id=run.kb_id, workspace_id=run.kb.workspace_id)
    logger.info("website sync claimed (attempt %s)", run.attempts)
    return run


def known_pages(source: WebsiteSource) -> dict:
    """url_key -> the validators and links of each page the KB holds: what the conditional requests send."""
    known = {}
    for url, metadata in source.documents.values_list("url", "metadata"):
        known[url_key(url)] = {name: (metadata or {}).get(name) for name in PAGE_FIELDS}
    return known


def _crawl(run: _Run, source: WebsiteSource) -> tuple[list[PageResult], str | None, bool]:
    """Run the crawl child to its end: (results, error, complete). Raises _Gone when the run is no longer ours."""
    from drafts.crawler import start_crawl
    from drafts.processing import operator_crawl_config
    from privexbot import sandbox

    config = operator_crawl_config(source.url, source.crawl_config, use_sitemap=True)
    results: list[PageResult] = []
    with sandbox.scratch(f"pxb-sync-{run.run_id}-") as out_dir:
        handle = start_crawl(config, out_dir=out_dir, known=known_pages(source))
        try:
            while True:
                progress = handle.wait(timeout=1.0)
                results.extend(handle.pages())
                if not run.alive():  # also the heartbeat
                    raise _Gone
                if progress.finished:
                    break
            results.extend(handle.pages())
        finally:
            handle.cancel()
    stored = sum(1 for r in results if r.ok or r.not_modified)
    if progress.error:
        return results, progress.error, False
    if stored >= config.max_pages:
        return results, f"max_pages ({config.max_pages}) reached", False
    return results, None, True


@log_scope
def run_sync(run_id) -> str | None:
    """Returns the run's final status, or None when there was nothing to do (not queued, or lost meanwhile)."""
    run_row = _claim(run_id)
    if run_row is None:
        return None
    run, source, kb = _Run(run_row), run_row.website_source, run_row.kb
    try:
        results, error, complete = _crawl(run, source)
        if not any(r.ok or r.not_modified for r in results):
            return _fail(run, run_row, error or "No page of the website could be fetched.")
        documents = list(source.documents.values("id", "url", "content_hash"))
        plan = plan_sync(
            documents=documents, results=results, policy=source.removed_pages, complete=complete,
            stopped_because=error or "",
        )  # fmt: skip
        with run.keep_alive():
            if kb.review_sync_changes and plan.of("changed", "added", "removed"):
                from drafts.sync.apply import remember_validators
                from drafts.sync.review import review_draft_create

                remember_validators(kb, plan)
                draft = review_draft_create(run=run_row, plan=plan)
                return _finish(run, run_row, plan, SyncStatus.REVIEW, draft_id=str(draft.pk))
            from drafts.sync.apply import apply_plan

            if not run.alive():
                raise _Gone
            apply_plan(kb=kb, source=source, plan=plan, user=run_row.created_by)
        return _finish(run, run_row, plan, SyncStatus.COMPLETED)
    except _Gone:
        logger.info("website sync lost its run (requeued or deleted); stopping")
        return None
    except Exception as exc:
        logger.exception("website sync %s failed", run_id)
        return _fail(run, run_row, f"Unexpected error: {type(exc).__name__}")


def _finish(run: _Run, row: SyncRun, plan: Plan, status: str, **details) -> str | None:
    counts = plan.counts()
    if not run.finish(status, counts=counts, report=plan.report(), error=""):
        return None
    _source_synced(row.website_source)
    WEBSITE_SYNCS.labels(outcome=status, trigger=row.trigger).inc()
    for outcome, count in counts.items():
        if count:
            WEBSITE_SYNC_PAGES.labels(outcome=outcome).inc(count)
    audit_record(
        event_type="website_sync", action="review" if status == SyncStatus.REVIEW else "finish",
        user=row.created_by, workspace=row.kb.workspace, resource=row,
        details={"kb_id": str(row.kb_id), "website_source_id": str(row.website_source_id), "counts": counts,
                 "trigger": row.trigger, **details},
    )  # fmt: skip
    logger.info("website sync %s: %s", status, counts)
    return status


def _fail(run: _Run, row: SyncRun, error: str) -> str | None:
    if not run.finish(SyncStatus.FAILED, error=error[:2000]):
        return None
    _source_synced(row.website_source, succeeded=False)
    WEBSITE_SYNCS.labels(outcome=SyncStatus.FAILED, trigger=row.trigger).inc()
    audit_record(
        event_type="website_sync", action="fail", user=row.created_by, workspace=row.kb.workspace, resource=row,
        success=False, details={"kb_id": str(row.kb_id), "error": error[:500], "trigger": row.trigger},
    )  # fmt: skip
    return SyncStatus.FAILED


def _source_synced(source: WebsiteSource, *, succeeded: bool = True) -> None:
    """The schedule counts from the last run, whatever started it; a failed run does not move last_synced_at."""
    fields = {"next_sync_at": next_sync_time(source.schedule)}
    if succeeded:
        fields["last_synced_at"] = timezone.now()
    WebsiteSource.objects.filter(pk=source.pk).update(**fields)
