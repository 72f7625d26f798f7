"""Reads of drafts, through the access funnel: a draft is visible to members of its workspace whose
role may create knowledge bases (owner, admin, editor); anyone else gets a 404."""

from __future__ import annotations

from functools import lru_cache

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from drafts.models import DraftSource, KBDraft, SourceStatus
from kb.pipeline.elements import elements_load
from privexbot.logs import bind
from privexbot.metrics.definitions import UNAUTHORIZED_ACCESS
from tenants.models import ROLE_PERMISSIONS, Perm
from tenants.selectors import parse_uuid, workspaces_for_user
from tenants.tokens import kb_limit_of


def drafts_for_user(*, user) -> QuerySet[KBDraft]:
    drafts = KBDraft.objects.filter(workspace__in=workspaces_for_user(user=user, perm=Perm.KB_CREATE).values("pk"))
    if (limit := kb_limit_of(user)) is not None:  # a KB-limited API key: only drafts adding to one of its KBs
        drafts = drafts.filter(target_kb_id__in=limit)
    return drafts


def draft_get_for_user(*, user, draft_id) -> KBDraft:
    draft_id = parse_uuid(draft_id)
    draft = (
        drafts_for_user(user=user).select_related("workspace__organization", "target_kb").filter(pk=draft_id).first()
    )
    if draft is not None:
        bind(workspace_id=draft.workspace_id, draft_id=draft.pk, kb_id=draft.target_kb_id)
        return draft
    member_of = workspaces_for_user(user=user).filter(kb_drafts__pk=draft_id).first()
    if member_of is not None and Perm.KB_CREATE not in ROLE_PERMISSIONS[member_of.role]:
        UNAUTHORIZED_ACCESS.labels(resource="draft", outcome="403").inc()
        raise PermissionDenied("your role in this workspace does not allow creating knowledge bases")
    UNAUTHORIZED_ACCESS.labels(resource="draft", outcome="404").inc()
    raise Http404("draft not found")


def draft_source_get(*, draft: KBDraft, source_id) -> DraftSource:
    source = draft.sources.filter(pk=parse_uuid(source_id)).first()
    if source is None:
        raise Http404("source not found")
    return source


@lru_cache(maxsize=64)
def _load_elements(path: str):
    return elements_load(path)


def source_units(source: DraftSource) -> list[dict]:
    """The documents a completed source becomes: one for a file or text, one per page for a website.
    Each unit: {name, url, elements, content_hash}. Elements files are immutable, so they are cached."""
    if source.status != SourceStatus.COMPLETED or not source.elements_file:
        return []
    data = _load_elements(source.elements_file)
    if source.type == "website_crawl":
        return [
            {
                "name": p.get("title") or p["url"],
                "url": p["url"],
                "elements": p["elements"],
                "content_hash": p.get("content_hash", ""),
            }
            for p in data
        ]
    return [{"name": source.name, "url": "", "elements": data, "content_hash": source.content_hash}]


def draft_processing_status(*, draft: KBDraft) -> dict:
    sources = list(draft.sources.all())
    return {
        "sources_added": len(sources),
        "sources_processed": sum(1 for s in sources if s.status == SourceStatus.COMPLETED),
        "sources_processing": sum(1 for s in sources if s.is_unfinished),
        "sources_failed": sum(1 for s in sources if s.status == SourceStatus.ERROR),
    }


def source_parse_workspace(source_id) -> object | None:
    """The workspace whose parse slot (privexbot.slots) parsing this source needs, or None when it is not
    waiting for a worker."""
    from django.db.models import Q

    from drafts import states

    claimable = Q(status=SourceStatus.PENDING) | states.worker_silent()
    try:
        source_id = parse_uuid(source_id)
    except Http404:  # a message naming no valid id: the task body ignores it too
        return None
    rows = DraftSource.objects.filter(claimable, pk=source_id)
    return rows.values_list("draft__workspace_id", flat=True).first()
