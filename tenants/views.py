from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from kb.selectors import kb_queryset_for_user
from tenants.selectors import workspaces_for_user


@login_required
def home(request):
    workspaces = list(workspaces_for_user(user=request.user).order_by("organization__name", "name"))
    kbs = kb_queryset_for_user(user=request.user).order_by("name")
    return render(request, "tenants/home.html", {"workspaces": workspaces, "knowledge_bases": kbs})
