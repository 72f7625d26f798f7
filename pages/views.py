"""Pages that combine apps: the workspace dashboard (KBs and drafts) and the full KB page (its documents,
the retrieval panel and the drafts adding sources to it)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from drafts.selectors import drafts_for_user
from kb.forms import SearchForm
from kb.selectors import kb_queryset_for_user, kb_summaries_for_user
from kb.views.common import get_kb
from kb.views.detail import TEMPLATE as KB_TEMPLATE
from kb.views.detail import documents_context
from tenants.models import ROLE_PERMISSIONS, Perm
from tenants.selectors import workspaces_for_user

SESSION_KEY = "current_workspace"


@require_GET
@login_required
def home(request):
    """The dashboard of one workspace (chosen with the switcher, remembered in the session)."""
    workspaces = list(workspaces_for_user(user=request.user).order_by("organization__name", "name"))
    wanted = request.GET.get("workspace") or request.session.get(SESSION_KEY)
    current = next((w for w in workspaces if str(w.pk) == str(wanted)), workspaces[0] if workspaces else None)
    context = {"workspaces": workspaces, "current": current, "knowledge_bases": [], "drafts": [], "shared": []}
    if current is not None:
        request.session[SESSION_KEY] = str(current.pk)
        kbs = kb_queryset_for_user(user=request.user).order_by("name")
        context.update(
            knowledge_bases=kb_summaries_for_user(user=request.user, workspace_id=current.pk),
            shared=list(kbs.exclude(workspace__in=[w.pk for w in workspaces])),
            drafts=list(drafts_for_user(user=request.user).filter(workspace=current).select_related("target_kb")),
            can_create=Perm.KB_CREATE in ROLE_PERMISSIONS[current.role],
        )
    return render(request, "pages/home.html", context)


@login_required
@require_GET
def kb_detail(request, kb_id):
    """The KB page; an HTMX poll gets only its documents partial (kb.views.detail)."""
    kb, perms = get_kb(request, kb_id)
    context = {"kb": kb, "perms": perms, **documents_context(kb, request.GET)}  # filters and page kept
    if request.htmx:
        return render(request, f"{KB_TEMPLATE}#documents", context)
    context["search_form"] = SearchForm(initial={"mode": "hybrid", "top_k": 5})
    context["pending_drafts"] = drafts_for_user(user=request.user).filter(target_kb=kb)
    return render(request, KB_TEMPLATE, context)
