"""Website sources of a KB: made when a crawled draft source is finalized, edited (schedule, removed-pages
policy) from the KB page and the API."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone

from kb.models import KnowledgeBase, RemovedPagePolicy, SyncSchedule, WebsiteSource
from privexbot.audit import audit_record

INTERVALS = {SyncSchedule.DAILY: timedelta(days=1), SyncSchedule.WEEKLY: timedelta(days=7)}
PAGE_FIELDS = ("etag", "last_modified", "links")  # what a page's document keeps for the next conditional request


def next_sync_time(schedule: str, *, after=None):
    interval = INTERVALS.get(schedule)
    return (after or timezone.now()) + interval if interval else None


def page_metadata(page: dict) -> dict:
    """Document.metadata of a crawled page: its final URL, ETag, Last-Modified and same-site links (a 304 has no
    body, so the next sync follows the links stored here). The content hash is Document.content_hash."""
    return {"final_url": page["url"], **{name: page.get(name) for name in PAGE_FIELDS}}


def website_source_create(*, kb: KnowledgeBase, url: str, crawl_config: dict, user, request=None) -> WebsiteSource:
    source = WebsiteSource.objects.create(kb=kb, url=url, crawl_config=dict(crawl_config), created_by=user)
    audit_record(
        event_type="website_source", action="create", user=user, request=request, workspace=kb.workspace,
        resource=source, details={"kb_id": str(kb.pk), "url": url},
    )  # fmt: skip
    return source


def website_source_update(
    *, source: WebsiteSource, user, schedule: str | None = None, removed_pages: str | None = None, request=None
) -> WebsiteSource:
    """Change how often the source is re-synced and what a sync does with pages that disappeared."""
    changes = {}
    if schedule is not None:
        if schedule not in SyncSchedule.values:
            raise ValidationError({"schedule": [f"must be one of {', '.join(SyncSchedule.values)}"]})
        changes["schedule"] = schedule
        if schedule != source.schedule:
            changes["next_sync_at"] = next_sync_time(schedule, after=source.last_synced_at or timezone.now())
    if removed_pages is not None:
        if removed_pages not in RemovedPagePolicy.values:
            raise ValidationError({"removed_pages": [f"must be one of {', '.join(RemovedPagePolicy.values)}"]})
        changes["removed_pages"] = removed_pages
    if not changes:
        return source
    for name, value in changes.items():
        setattr(source, name, value)
    source.save(update_fields=list(changes))
    audit_record(
        event_type="website_source", action="update", user=user, request=request, workspace=source.kb.workspace,
        resource=source, details={k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in changes.items()},
    )  # fmt: skip
    return source


def kb_review_sync_set(*, kb: KnowledgeBase, user, enabled: bool, request=None) -> KnowledgeBase:
    """The KB setting "review changes before applying": a sync then becomes a draft of the KB (drafts.sync.review)."""
    from kb.services import kb_update

    return kb_update(kb=kb, user=user, review_sync_changes=bool(enabled), request=request)
