"""The KB page's index-rebuild panel (templates/kb/_rebuild_progress.html): progress, polled while a rebuild runs,
and its cancel button. Starting one is a settings draft (drafts.views.add_to_kb.change_settings)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from kb.rebuild import rebuild_cancel, rebuild_get, rebuild_latest
from kb.views.common import get_kb
from privexbot.errors import ServiceError
from tenants.models import Perm


@login_required
@require_GET
def rebuild_progress(request, kb_id):
    kb, perms = get_kb(request, kb_id)
    rebuild = rebuild_latest(kb)
    context = {"kb": kb, "perms": perms, "rebuild": rebuild, "rebuild_loaded": True}
    return render(request, "kb/_rebuild_progress.html", context)


@login_required
@require_POST
def rebuild_cancel_view(request, kb_id, rebuild_id):
    kb, _ = get_kb(request, kb_id, Perm.KB_UPDATE)
    try:
        rebuild_cancel(
            rebuild=rebuild_get(kb=kb, rebuild_id=rebuild_id), user=request.user, request=request, door="web"
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Rebuild cancelled: the knowledge base keeps its current index.")
    return redirect("kb:detail", kb_id=kb.pk)
