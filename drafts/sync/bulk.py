"""The KB page's bulk "Re-sync" (kb.views.bulk's selection, posted to drafts.views.sync_bulk): the ticked
documents — or every one matching the filter — name the website sources they were crawled from, and each of
those sources is re-synced once through drafts.sync.services.sync_start (so every rule of a single re-sync
holds: one sync per source at a time, review mode, the audit event per run). A re-sync covers the whole site
of its source, not only the ticked pages: the confirmation says so."""

from __future__ import annotations

from collections import Counter

from django.db import transaction

from drafts.sync.services import sync_start
from kb.bulk import BulkResult, bulk_recorded
from kb.models import KnowledgeBase, WebsiteSource
from privexbot.errors import Conflict

ACTION = "resync"


def sources_of(*, kb: KnowledgeBase, documents) -> tuple[list[WebsiteSource], int]:
    """(the distinct website sources of `documents` in `kb`, ordered by URL; how many of the documents were
    not crawled from one — uploads, pasted text)."""
    per_source = Counter(d.website_source_id for d in documents if d.kb_id == kb.pk)
    without = per_source.pop(None, 0)
    sources = list(kb.website_sources.filter(pk__in=per_source).order_by("url"))
    return sources, without


@transaction.atomic
def documents_resync(*, kb: KnowledgeBase, documents, user, request=None, scope: str = "") -> BulkResult:
    """Start one re-sync per website source among `documents` (the caller went through the access funnel with
    kb:update). Counted in documents, like the other bulk actions: done = documents whose source sync was
    queued, unchanged = whose source was already syncing (or waiting for review), refused = not website pages."""
    documents = [d for d in documents if d.kb_id == kb.pk]
    per_source = Counter(d.website_source_id for d in documents)
    result = BulkResult(action=ACTION, requested=len(documents), refused=per_source.pop(None, 0))
    if result.refused:
        result.messages.append(f"{result.refused} of them are not pages of a crawled website and have nothing to sync.")
    started: list[str] = []
    for source in kb.website_sources.filter(pk__in=per_source).order_by("url"):
        try:
            run = sync_start(website_source=source, user=user, trigger="manual", request=request)
        except Conflict:  # already queued, running or waiting for review: that run covers it
            result.unchanged += per_source[source.pk]
        else:
            result.done += per_source[source.pk]
            result.sources += 1
            started.append(str(run.pk))
    bulk_recorded(kb=kb, result=result, user=user, request=request, scope=scope, sources=len(per_source),
                  sync_run_ids=started)  # fmt: skip
    return result
