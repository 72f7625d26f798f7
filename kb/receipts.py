"""Reads of deletion receipts (privexbot.models.DeletionReceipt) through the access funnel. The KB a receipt
describes is gone, so receipts are scoped by the workspace id they copy: its owners and admins see them all;
whoever made a deletion sees its receipt (the page they land on links to it). Anyone else gets a 404."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from privexbot.models import DeletionReceipt
from tenants.models import Perm
from tenants.selectors import parse_uuid, workspace_get_for_user, workspaces_for_user
from tenants.tokens import kb_limit_of


def receipts_for_workspace(*, user, workspace_id) -> QuerySet[DeletionReceipt]:
    workspace = workspace_get_for_user(user=user, workspace_id=workspace_id, perm=Perm.WORKSPACE_MANAGE)
    return DeletionReceipt.objects.filter(workspace_id=workspace.pk)


def receipt_get_for_user(*, user, receipt_id) -> DeletionReceipt:
    workspaces = {w.pk: w.role for w in workspaces_for_user(user=user)}
    receipt = DeletionReceipt.objects.filter(pk=parse_uuid(receipt_id), workspace_id__in=list(workspaces)).first()
    if receipt is None:
        raise Http404("receipt not found")
    from tenants.models import ROLE_PERMISSIONS

    manages = Perm.WORKSPACE_MANAGE in ROLE_PERMISSIONS[workspaces[receipt.workspace_id]]
    if not manages and receipt.body.get("actor_user_id") != user.pk:
        raise Http404("receipt not found")
    limit = kb_limit_of(user)  # an API key limited to some KBs sees only their receipts
    if limit is not None and receipt.body.get("knowledge_base_id") not in {str(k) for k in limit}:
        raise Http404("receipt not found")
    return receipt
