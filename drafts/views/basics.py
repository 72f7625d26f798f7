"""Step 1 (name and description), creating a draft, resuming one and discarding it."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from drafts.forms import DraftBasicsForm, NewDraftForm
from drafts.services import draft_create, draft_delete, draft_update
from drafts.views.common import get_draft, last_step, wizard_render
from privexbot.forms import attach_errors
from tenants.models import Perm
from tenants.selectors import workspaces_for_user


@login_required
@require_http_methods(["GET", "POST"])
def draft_new(request):
    workspaces = workspaces_for_user(user=request.user, perm=Perm.KB_CREATE).order_by("organization__name", "name")
    initial = {"workspace": request.GET.get("workspace") or request.session.get("current_workspace")}
    if initial["workspace"] and not workspaces.filter(pk=initial["workspace"]).exists():
        initial["workspace"] = None
    form = NewDraftForm(request.POST or None, workspaces=workspaces, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            draft = draft_create(
                workspace=form.cleaned_data["workspace"],
                user=request.user,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                request=request,
            )
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            return redirect("drafts:sources", draft_id=draft.pk)
    context = {"form": form, "steps": [], "can_create": workspaces.exists()}
    return render(request, "drafts/new.html", context, status=400 if form.errors else 200)


@login_required
def draft_resume(request, draft_id):
    draft = get_draft(request, draft_id)
    return redirect(f"drafts:{last_step(request, draft)}", draft_id=draft.pk)


@login_required
@require_http_methods(["GET", "POST"])
def draft_basics(request, draft_id):
    draft = get_draft(request, draft_id)
    form = DraftBasicsForm(request.POST or None, initial={"name": draft.name, "description": draft.description})
    if request.method == "POST" and form.is_valid():
        try:
            draft_update(draft=draft, user=request.user, request=request, **form.cleaned_data)
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            return redirect("drafts:sources", draft_id=draft.pk)
    return wizard_render(request, "drafts/basics.html", draft, "basics", {"form": form})


@login_required
@require_POST
def draft_discard(request, draft_id):
    draft = get_draft(request, draft_id)
    name = draft.name
    draft_delete(draft=draft, user=request.user, request=request)
    messages.success(request, f"Draft “{name}” was discarded with its uploaded files.")
    return redirect("home")
