from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from drafts.selectors import drafts_for_user
from kb.selectors import kb_queryset_for_user, kb_summaries_for_user
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
    return render(request, "tenants/home.html", context)
