"""Reads of drafts, through the access funnel: a draft is visible to members of its workspace whose
role may create knowledge bases (owner, admin, editor); anyone else gets a 404."""

from __future__ import annotations

from functools import lru_cache

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from drafts.models import DraftSource, KBDraft, SourceStatus
from kb.pipeline.elements import elements_load
from kb.selectors import kb_get_for_user
from privexbot.logs import bind
from privexbot.metrics.definitions import UNAUTHORIZED_ACCESS
from tenants.models import ROLE_PERMISSIONS, Perm
from tenants.selectors import parse_uuid, user_workspace_perms, workspaces_for_user
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


def kb_for_new_sources(*, user, kb_id):
    """The KB a draft may add sources to (wizard and API): kb:update on the KB (404 another tenant's, 403 a
    readable one), and kb:create in its workspace, which a draft needs to be visible to its creator at all."""
    kb = kb_get_for_user(user=user, kb_id=kb_id, perm=Perm.KB_UPDATE)
    if Perm.KB_CREATE not in user_workspace_perms(user=user, workspace=kb.workspace):
        UNAUTHORIZED_ACCESS.labels(resource="draft", outcome="403").inc()
        raise PermissionDenied("your role in this workspace does not allow adding sources through a draft")
    return kb


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
                "page": p,  # final URL, ETag, Last-Modified, links: kept for re-syncs (drafts.sync)
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


def versions_preview(*, draft: KBDraft):
    """For a draft that adds to an existing KB: what the KB's duplicate policy will do with its completed files
    (kb.versions.plan: added, replaced, skipped), shown on the review step before finalize. None otherwise."""
    from kb import versions

    if draft.target_kb_id is None:
        return None
    files = [
        (source.name[:500], source.content_hash)
        for source in draft.sources.filter(type="file_upload", status=SourceStatus.COMPLETED).order_by("created_at")
    ]
    return versions.plan(kb=draft.target_kb, files=files) if files else None
