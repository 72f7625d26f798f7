"""Reads of website sources and sync runs. Callers pass a KB they got from kb.selectors.kb_get_for_user (the
access funnel); an id of another KB's source or run is a 404."""

from __future__ import annotations

from django.db.models import Count, Prefetch, QuerySet
from django.http import Http404

from kb.models import KnowledgeBase, SyncRun, WebsiteSource
from tenants.selectors import parse_uuid

RECENT_RUNS = 3


def website_sources_for_kb(*, kb: KnowledgeBase) -> QuerySet[WebsiteSource]:
    """With `page_count` and each source's last RECENT_RUNS runs (and their review drafts) prefetched as
    `recent`: three queries however many sources and runs there are."""
    runs = SyncRun.objects.order_by("-created_at").prefetch_related("drafts")[:RECENT_RUNS]  # sliced per source
    return (
        WebsiteSource.objects.filter(kb=kb)
        .annotate(page_count=Count("documents"))
        .prefetch_related(Prefetch("runs", queryset=runs, to_attr="recent"))
    )


def recent_runs(source: WebsiteSource) -> list[SyncRun]:
    runs = getattr(source, "recent", None)
    return runs if runs is not None else list(source.runs.order_by("-created_at")[:RECENT_RUNS])


def website_source_get(*, kb: KnowledgeBase, source_id) -> WebsiteSource:
    source = WebsiteSource.objects.filter(kb=kb, pk=parse_uuid(source_id)).select_related("kb__workspace").first()
    if source is None:
        raise Http404("website source not found")
    return source


def sync_run_get(*, kb: KnowledgeBase, run_id) -> SyncRun:
    run = SyncRun.objects.filter(kb=kb, pk=parse_uuid(run_id)).select_related("website_source").first()
    if run is None:
        raise Http404("sync run not found")
    return run
