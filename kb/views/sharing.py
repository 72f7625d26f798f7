"""Sharing one KB beyond the workspace roles: list, grant and revoke object grants (kb.sharing holds the rules:
owners and admins of the workspace share, with users of the same organization only)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from kb.sharing import LEVELS, kb_get_for_sharing, kb_grants, kb_share, kb_unshare
from privexbot.forms import Form, attach_errors

TEMPLATE = "kb/sharing.html"


class ShareForm(Form):
    user = forms.CharField(label="Username or email", max_length=254)
    level = forms.ChoiceField(label="Access", choices=[(k, k.capitalize()) for k in LEVELS], initial="read")


def _render(request, kb, form, *, notice=None, status=200):
    context = {"kb": kb, "grants": kb_grants(kb=kb), "form": form, "notice": notice or {}}
    template = f"{TEMPLATE}#grants" if request.htmx else TEMPLATE
    return render(request, template, context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def kb_sharing(request, kb_id):
    kb = kb_get_for_sharing(user=request.user, kb_id=kb_id)
    form = ShareForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            grant = kb_share(
                user=request.user, kb_id=kb.pk, identifier=form.cleaned_data["user"],
                level=form.cleaned_data["level"], request=request,
            )  # fmt: skip
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            ok = f"{grant['user'].get_username()} can {grant['level']} “{kb.name}”."
            if request.htmx:
                return _render(request, kb, ShareForm(), notice={"ok": ok})
            messages.success(request, ok)
            return redirect("kb:sharing", kb_id=kb.pk)
    # An HTMX form with errors is answered 200 so that htmx swaps the panel with the messages in it.
    return _render(request, kb, form, status=400 if form.errors and not request.htmx else 200)


@login_required
@require_POST
def kb_unsharing(request, kb_id, user_id):
    kb = kb_get_for_sharing(user=request.user, kb_id=kb_id)
    kb_unshare(user=request.user, kb_id=kb.pk, user_id=user_id, request=request)
    if request.htmx:
        return _render(request, kb, ShareForm(), notice={"ok": "Access withdrawn."})
    messages.success(request, "Access withdrawn.")
    return redirect("kb:sharing", kb_id=kb.pk)
