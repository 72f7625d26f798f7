"""The retention card of the KB settings page (policy, legal hold) and the workspace page's list of what the
workspace policy deletes next. Views parse input and call kb.retention / kb.legal_hold, which hold the rules
(owners and admins set a policy, owners a hold)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from kb.forms import KBSettingsForm
from kb.forms_retention import KBRetentionForm, LegalHoldForm
from kb.legal_hold import can_manage_legal_hold, kb_legal_hold_lift, kb_legal_hold_set
from kb.retention import kb_retention_set, retention_preview, workspace_retention_preview
from kb.selectors import kb_queryset_for_user
from kb.views.common import get_kb
from privexbot.forms import attach_errors
from tenants.models import Perm
from tenants.selectors import workspace_get_for_user


def settings_context(request, kb, perms, **extra) -> dict:
    """Everything the settings page shows: the name form, and the retention card."""
    context = {
        "kb": kb,
        "perms": perms,
        "form": KBSettingsForm(initial={"name": kb.name, "description": kb.description}),
        "retention": retention_preview(kb=kb),
        "retention_form": KBRetentionForm.for_kb(kb),
        "hold_form": LegalHoldForm(initial={"reason": kb.legal_hold_reason}),
        "can_set_retention": Perm.WORKSPACE_MANAGE in perms,
        "can_hold": can_manage_legal_hold(user=request.user, kb=kb),
    }
    context.update(extra)
    return context


def _page_with_errors(request, kb, perms, **forms):
    return render(request, "kb/settings.html", settings_context(request, kb, perms, **forms), status=400)


@login_required
@require_POST
def kb_retention(request, kb_id):
    kb, perms = get_kb(request, kb_id, perm=Perm.KB_UPDATE)
    form = KBRetentionForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            kb_retention_set(
                kb=kb, user=request.user, inherit=data["retention_inherit"], days=data["retention_days"],
                basis=data["retention_basis"], request=request,
            )  # fmt: skip
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            messages.success(request, "Retention policy saved.")
            return redirect("kb:settings", kb_id=kb.pk)
    return _page_with_errors(request, kb, perms, retention_form=form)


@login_required
@require_POST
def kb_legal_hold(request, kb_id):
    kb, perms = get_kb(request, kb_id, perm=Perm.KB_DELETE)
    if request.POST.get("action") == "lift":
        kb_legal_hold_lift(kb=kb, user=request.user, request=request)
        messages.success(request, "Legal hold lifted: deletions and the retention policy apply again.")
        return redirect("kb:settings", kb_id=kb.pk)
    form = LegalHoldForm(request.POST)
    if form.is_valid():
        try:
            kb_legal_hold_set(kb=kb, user=request.user, reason=form.cleaned_data["reason"], request=request)
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            messages.success(
                request, "Legal hold set: nothing in this knowledge base can be deleted until it is lifted."
            )
            return redirect("kb:settings", kb_id=kb.pk)
    return _page_with_errors(request, kb, perms, hold_form=form)


@login_required
@require_GET
def workspace_retention_due(request, workspace_id):
    """A fragment of the workspace page (loaded by it): the next documents the workspace policy deletes, among
    the KBs the user may read."""
    workspace = workspace_get_for_user(user=request.user, workspace_id=workspace_id)
    preview = workspace_retention_preview(workspace=workspace, kbs=kb_queryset_for_user(user=request.user))
    return render(request, "kb/_workspace_retention_due.html", {"workspace": workspace, "retention": preview})
