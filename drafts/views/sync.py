"""The KB page's website sources (templates/kb/_website_sources.html): re-sync now, schedule and removed-pages
policy, the "review changes before applying" setting; and the documents list's bulk "Re-sync" (the bulk form of
templates/kb/_documents.html, confirmed on kb.views.bulk's page). Each form posts here and comes back to the KB
page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from drafts.sync.bulk import documents_resync, sources_of
from drafts.sync.selectors import website_source_get
from drafts.sync.services import sync_start
from drafts.sync.sources import kb_review_sync_set, website_source_update
from kb.selectors import kb_get_for_user
from kb.views.bulk import CONFIRM_TEMPLATE, NAMES_SHOWN, page_url, selected_documents
from kb.views.common import get_kb
from privexbot.errors import ServiceError
from tenants.models import Perm


def _back(kb):
    return redirect(reverse("kb:detail", args=[kb.pk]) + "#website-sources")


@login_required
@require_POST
def website_source_sync(request, kb_id, source_id):
    kb = kb_get_for_user(user=request.user, kb_id=kb_id, perm=Perm.KB_UPDATE)
    source = website_source_get(kb=kb, source_id=source_id)
    try:
        sync_start(website_source=source, user=request.user, trigger="manual", request=request)
        messages.success(request, f"Re-sync of {source.url} queued; its report appears here when it has finished.")
    except ServiceError as exc:
        messages.error(request, exc.message)
    return _back(kb)


@login_required
@require_POST
def website_source_settings(request, kb_id, source_id):
    kb = kb_get_for_user(user=request.user, kb_id=kb_id, perm=Perm.KB_UPDATE)
    source = website_source_get(kb=kb, source_id=source_id)
    try:
        website_source_update(
            source=source, user=request.user, request=request,
            schedule=request.POST.get("schedule") or None, removed_pages=request.POST.get("removed_pages") or None,
        )  # fmt: skip
        messages.success(request, f"Sync settings of {source.url} saved.")
    except ValidationError as exc:
        messages.error(request, " ".join(m for ms in exc.message_dict.values() for m in ms))
    return _back(kb)


@login_required
@require_POST
def kb_review_sync(request, kb_id):
    kb = kb_get_for_user(user=request.user, kb_id=kb_id, perm=Perm.KB_UPDATE)
    enabled = request.POST.get("review_sync_changes") in ("true", "1", "on", "yes")
    kb_review_sync_set(kb=kb, user=request.user, enabled=enabled, request=request)
    state = "become a draft to review before they apply" if enabled else "apply directly"
    messages.success(request, f"Website re-syncs now {state}.")
    return _back(kb)


@login_required
@require_POST
def documents_resync_action(request, kb_id):
    """Bulk re-sync: the first POST shows the websites the selected documents came from; the confirmed POST
    (confirmed=yes, and for scope=all the unchanged `expected` count) starts one sync per website."""
    kb, perms = get_kb(request, kb_id, perm=Perm.KB_UPDATE)
    post = request.POST
    scope, form, documents = selected_documents(kb, post)
    back = page_url(kb, form, post)
    documents = list(documents.only("pk", "kb_id", "name", "website_source_id"))
    if not documents:
        messages.error(request, "Select documents first (or apply the action to all documents matching the filter).")
        return redirect(back)
    sources, without = sources_of(kb=kb, documents=documents)
    if not sources:
        messages.error(request, "None of the selected documents is a page of a crawled website: nothing to re-sync.")
        return redirect(back)
    count = len(documents)
    changed = scope == "all" and post.get("expected", "") != str(count)
    if post.get("confirmed") != "yes" or changed:
        context = {
            "kb": kb, "perms": perms, "action": "resync", "action_label": "Re-sync", "scope": scope, "count": count,
            "names": [d.name for d in documents[:NAMES_SHOWN]], "more": max(0, count - NAMES_SHOWN),
            "filter_form": form, "changed": changed and "expected" in post, "sources": sources,
            "without_source": without, "confirm_url": reverse("drafts:sync_documents", args=[kb.pk]),
            "document_ids": [str(d.pk) for d in documents] if scope == "selected" else [],
            "page": post.get("page", ""), "back": back,
        }  # fmt: skip
        return render(request, CONFIRM_TEMPLATE, context)
    result = documents_resync(kb=kb, documents=documents, user=request.user, request=request, scope=scope)
    parts = [f"Re-sync of {result.sources} website{'s' if result.sources != 1 else ''} queued"]
    if result.unchanged:
        parts.append(f"{result.unchanged} of the documents' websites were already syncing")
    if result.refused:
        parts.append(f"{result.refused} document{'s are' if result.refused != 1 else ' is'} not a website page")
    messages.success(request, "; ".join(parts) + ". Each sync's report appears under Website sources.")
    return redirect(back)
