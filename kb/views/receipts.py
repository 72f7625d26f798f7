"""Deletion receipts in the browser: the page a KB deletion lands on, its JSON download, and the workspace's list
(owners and admins). Reads go through kb.receipts (scoped by workspace: the KB is gone)."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from kb.receipts import receipt_get_for_user, receipts_for_workspace
from privexbot.receipts import receipt_document, receipt_signature_valid


@login_required
@require_GET
def receipt_detail(request, receipt_id):
    receipt = receipt_get_for_user(user=request.user, receipt_id=receipt_id)
    context = {
        "receipt": receipt,
        "body": receipt.body,
        "valid": receipt_signature_valid(receipt.body, receipt.signature),
    }
    return render(request, "kb/receipt.html", context)


@login_required
@require_GET
def receipt_download(request, receipt_id):
    receipt = receipt_get_for_user(user=request.user, receipt_id=receipt_id)
    response = HttpResponse(json.dumps(receipt_document(receipt), indent=2), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="deletion-receipt-{receipt.pk}.json"'
    return response


@login_required
@require_GET
def receipt_list(request, workspace_id):
    receipts = receipts_for_workspace(user=request.user, workspace_id=workspace_id)[:200]
    return render(request, "kb/receipts.html", {"receipts": receipts, "workspace_id": workspace_id})
