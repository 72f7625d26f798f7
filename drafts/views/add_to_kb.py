"""Adding sources to an existing KB: a draft that targets it (the KB page's "Add sources" button)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from drafts.services import draft_create
from kb.views.common import get_kb, require
from tenants.models import Perm


@login_required
@require_POST
def add_sources(request, kb_id):
    kb, perms = get_kb(request, kb_id, perm=Perm.KB_UPDATE)
    require(perms, Perm.KB_CREATE)  # the sources go through a draft, which needs kb:create in the workspace
    draft = draft_create(
        workspace=kb.workspace, user=request.user, name=f"More sources for {kb.name}"[:255], target_kb=kb,
        request=request,
    )  # fmt: skip
    return redirect("drafts:sources", draft_id=draft.pk)
