"""Steps 3 and 4: chunking with a live preview (a POST that validates and renders, saving nothing), then the
embedding model and search settings with the cost and time estimate."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from drafts.forms import ChunkingForm, EmbeddingForm
from drafts.preview import TOKENS_PER_SECOND, draft_preview
from drafts.services import draft_config_update
from drafts.settings_draft import is_settings_draft, preview_documents
from drafts.views.common import get_draft, wizard_render
from privexbot.audit import audit_record
from privexbot.forms import attach_errors
from privexbot.ratelimit import html_limits

PREVIEW_LIMIT = 30  # chunk cards shown; totals and averages always cover every chunk
TEMPLATE = "drafts/chunking.html"


def _locked(draft) -> bool:
    """Sources added to a KB are chunked and embedded with its settings; a settings draft exists to change them."""
    return draft.target_kb_id is not None and not is_settings_draft(draft)


def _units(draft) -> list:
    """What the preview can be narrowed to: the completed sources, or a settings draft's previewed documents."""
    if is_settings_draft(draft):
        return preview_documents(draft)
    return [s for s in draft.sources.all() if s.status == "completed"]


def _preview_context(request, draft, source_id: str | None) -> dict:
    known = {str(s.pk) for s in (preview_documents(draft) if is_settings_draft(draft) else draft.sources.all())}
    source_id = source_id if source_id in known else None
    preview = draft_preview(draft=draft, source_id=source_id, limit=PREVIEW_LIMIT)
    # Chunk text was shown: a read of document content.
    audit_record(
        event_type="document_access", action="preview_chunks", request=request, workspace=draft.workspace,
        resource=draft, details={"source_id": source_id, "shown": len(preview["chunks"]),
                                 "total_chunks": preview["total_chunks"], "door": "wizard"},
    )  # fmt: skip
    return {"preview": preview, "source_filter": source_id}


@login_required
@require_http_methods(["GET", "POST"])
def chunking(request, draft_id):
    draft = get_draft(request, draft_id)
    locked = _locked(draft)
    form = ChunkingForm(
        request.POST if request.method == "POST" and not locked else None,
        initial=ChunkingForm.initial_for(draft.chunking_config),
    )
    if request.method == "POST":
        if locked:
            return redirect("drafts:embedding", draft_id=draft.pk)
        if form.is_valid():
            try:
                draft_config_update(draft=draft, user=request.user, chunking_config=form.config, request=request)
            except ValidationError as exc:
                attach_errors(form, exc)
            else:
                messages.success(request, "Chunking settings saved.")
                return redirect("drafts:embedding", draft_id=draft.pk)
    context = {
        "form": form,
        "locked": locked,
        "sources": _units(draft),
        **_preview_context(request, draft, request.GET.get("source")),
    }
    return wizard_render(request, TEMPLATE, draft, "chunking", context, status=400 if form.errors else 200)


@html_limits("preview")
@login_required
@require_POST
def chunking_preview(request, draft_id):
    """Re-chunk with the settings in the form, unsaved: the draft in the database is not touched."""
    draft = get_draft(request, draft_id)
    form = ChunkingForm(request.POST) if not _locked(draft) else None
    context = {"form": form, "preview": None}
    if form is None or form.is_valid():
        if form is not None:
            draft.chunking_config = form.config  # in memory only, for this rendering
        context.update(_preview_context(request, draft, request.POST.get("source")))
    return render(request, f"{TEMPLATE}#preview", {"draft": draft, **context})


@login_required
@require_http_methods(["GET", "POST"])
def embedding(request, draft_id):
    draft = get_draft(request, draft_id)
    current = draft.embedding_config.get("model", "")
    form = EmbeddingForm(request.POST or None, current_model=current, initial=EmbeddingForm.initial_for(draft))
    if request.method == "POST" and form.is_valid():
        embedding_config, vector_store_config = form.changes()
        try:
            draft_config_update(
                draft=draft,
                user=request.user,
                embedding_config=embedding_config,
                vector_store_config=vector_store_config,
                request=request,
            )
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            messages.success(request, "Embedding and search settings saved.")
            return redirect("drafts:review", draft_id=draft.pk)
    totals = draft_preview(draft=draft, limit=0)
    estimate = {
        "chunks": totals["total_chunks"],
        "tokens": totals["total_tokens"],
        "cost": totals["estimated_embedding_cost"],
        "seconds": max(1, round(totals["total_tokens"] / TOKENS_PER_SECOND)) if totals["total_tokens"] else 0,
    }
    context = {"form": form, "estimate": estimate, "locked": _locked(draft)}
    return wizard_render(
        request, "drafts/embedding.html", draft, "embedding", context, status=400 if form.errors else 200
    )
