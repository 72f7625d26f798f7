"""KB settings, and delete (with the archive export offered first: kb.views.portability)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from kb.forms import KBDeleteForm, KBSettingsForm
from kb.views.common import get_kb
from kb.views.retention import settings_context
from privexbot.errors import Conflict
from tenants.models import Perm


@login_required
@require_http_methods(["GET", "POST"])
def kb_settings(request, kb_id):
    kb, perms = get_kb(request, kb_id, perm=Perm.KB_UPDATE)
    initial = {"name": kb.name, "description": kb.description, "duplicate_policy": kb.duplicate_policy}
    form = KBSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        form.save(kb=kb, user=request.user, request=request)
        messages.success(request, "Settings saved.")
        return redirect("kb:detail", kb_id=kb.pk)
    context = settings_context(request, kb, perms, form=form)  # with the retention card (kb.views.retention)
    return render(request, "kb/settings.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def kb_delete(request, kb_id):
    kb, perms = get_kb(request, kb_id, perm=Perm.KB_DELETE)
    form = KBDeleteForm(request.POST or None, kb=kb)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            name = form.delete(user=request.user, request=request)
        except Conflict as exc:  # under legal hold: nothing was deleted
            messages.error(request, exc.message)
            status = exc.http_status
        else:
            messages.success(request, f"“{name}” was deleted with its documents, chunks and stored files.")
            return redirect("kb:receipt", receipt_id=form.receipt.pk)  # lands on the signed deletion receipt
    context = {"kb": kb, "perms": perms, "form": form, "document_count": kb.documents.count()}
    return render(request, "kb/delete.html", context, status=400 if form.errors else status)
