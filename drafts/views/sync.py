"""The KB page's website sources (templates/kb/_website_sources.html): re-sync now, schedule and removed-pages
policy, the "review changes before applying" setting. Each form posts here and comes back to the KB page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from drafts.sync.selectors import website_source_get
from drafts.sync.services import sync_start
from drafts.sync.sources import kb_review_sync_set, website_source_update
from kb.selectors import kb_get_for_user
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
