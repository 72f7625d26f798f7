"""KB settings, delete (with an export offered first) and the JSON export."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods

from kb.forms import KBDeleteForm, KBSettingsForm
from kb.models import Chunk
from kb.views.common import get_kb
from kb.views.retention import settings_context
from privexbot.audit import audit_record
from privexbot.errors import Conflict
from privexbot.metrics.definitions import DATA_EXPORTS
from tenants.models import Perm


@login_required
@require_http_methods(["GET", "POST"])
def kb_settings(request, kb_id):
    kb, perms = get_kb(request, kb_id, perm=Perm.KB_UPDATE)
    form = KBSettingsForm(request.POST or None, initial={"name": kb.name, "description": kb.description})
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


def _export_lines(kb):
    yield '{"knowledge_base": ' + json.dumps(
        {"id": str(kb.pk), "name": kb.name, "description": kb.description, "chunking_config": kb.chunking_config,
         "embedding_config": kb.embedding_config, "vector_store_config": kb.vector_store_config}
    ) + ',\n"documents": ['  # fmt: skip
    for n, document in enumerate(kb.documents.order_by("created_at")):
        chunks = Chunk.objects.filter(kb=kb, document=document).order_by("index")
        item = {
            "id": str(document.pk), "name": document.name, "source_type": document.source_type, "url": document.url,
            "file_type": document.file_type, "status": document.status, "metadata": document.metadata,
            "chunks": list(chunks.values("index", "content", "token_count", "metadata")),
        }  # fmt: skip
        yield ("," if n else "") + "\n" + json.dumps(item)  # one document at a time: memory stays flat
    yield "\n]}\n"


@login_required
@require_GET
def kb_export(request, kb_id):
    """The KB's documents and chunks as one JSON file (served as a download, never rendered as HTML)."""
    kb, _ = get_kb(request, kb_id)
    audit_record(event_type="data_export", action="export", user=request.user, request=request,
                 workspace=kb.workspace, resource=kb)  # fmt: skip
    DATA_EXPORTS.labels(door="web").inc()
    response = StreamingHttpResponse(_export_lines(kb), content_type="application/json")
    filename = f"{slugify(kb.name) or 'knowledge-base'}-export.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
