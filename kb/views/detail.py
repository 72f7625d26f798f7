"""The documents of the KB page, with live status (polled only while something is unfinished), and retry.
The full page, which also shows drafts, is pages.views.kb_detail."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from kb.models import DocumentStatus
from kb.selectors import kb_status_summary
from kb.services import document_retry as retry_document
from kb.views.common import get_document, get_kb
from privexbot.errors import ServiceError
from tenants.models import Perm

MAX_DOCUMENTS = 300  # shown on the page; problems first
TEMPLATE = "kb/detail.html"


def documents_context(kb) -> dict:
    documents = list(
        kb.documents.defer("metadata", "stats", "stage_times").order_by("created_at", "name")[: MAX_DOCUMENTS + 1]
    )
    problems = {DocumentStatus.FAILED, DocumentStatus.QUARANTINED}
    documents.sort(key=lambda d: d.status not in problems)
    summary = kb_status_summary(kb=kb)
    return {
        "documents": documents[:MAX_DOCUMENTS],
        "more_documents": max(0, summary["documents"] - MAX_DOCUMENTS),
        "summary": summary,
        "attention": sum(summary["by_status"].get(s, 0) for s in problems),
        "polling": any(d.is_unfinished for d in documents),
    }


@login_required
@require_POST
def document_retry(request, kb_id, document_id):
    kb, perms = get_kb(request, kb_id, perm=Perm.KB_UPDATE)
    document = get_document(kb, document_id)
    try:
        retry_document(document=document, user=request.user, request=request)
        outcome = messages.SUCCESS, f"“{document.name}” is queued again."
    except ServiceError as exc:  # e.g. already being retried: the refreshed list shows its real state
        outcome = messages.ERROR, exc.message
    if request.htmx:
        return render(request, f"{TEMPLATE}#documents", {"kb": kb, "perms": perms, **documents_context(kb)})
    messages.add_message(request, *outcome)
    return redirect("kb:detail", kb_id=kb.pk)
