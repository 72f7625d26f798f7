"""Drafts of an existing KB from its page: "Add sources" (a draft that adds to it) and "Change settings" (a settings
draft: the wizard's chunking and embedding steps, previewed on the KB's documents; finalize rebuilds the index)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from drafts.models import DraftPurpose
from drafts.selectors import kb_for_new_sources
from drafts.services import draft_create
from drafts.settings_draft import draft_create_settings
from privexbot.errors import ServiceError


@login_required
@require_POST
def add_sources(request, kb_id):
    kb = kb_for_new_sources(user=request.user, kb_id=kb_id)  # kb:update on it, kb:create in its workspace
    draft = draft_create(
        workspace=kb.workspace, user=request.user, target_kb=kb, purpose=DraftPurpose.ADD_SOURCES, request=request
    )
    return redirect("drafts:sources", draft_id=draft.pk)


@login_required
@require_POST
def change_settings(request, kb_id):
    kb = kb_for_new_sources(user=request.user, kb_id=kb_id)  # kb:update on it, kb:create in its workspace
    try:
        draft = draft_create_settings(kb=kb, user=request.user, request=request)
    except ServiceError as exc:  # a rebuild is already running
        messages.error(request, exc.message)
        return redirect("kb:detail", kb_id=kb.pk)
    return redirect("drafts:chunking", draft_id=draft.pk)
