"""The retrieval-test panel: what a chatbot would get for a query, with each leg's rank and score."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from kb.forms import SearchForm
from kb.search import SearchError, chunk_search
from kb.views.common import get_kb
from kb.views.highlight import highlight, query_terms
from privexbot.audit import audit_record, query_fingerprint
from privexbot.ratelimit import html_limits


@html_limits("search", methods=("GET",))
@login_required
@require_GET
def kb_search(request, kb_id):
    kb, perms = get_kb(request, kb_id)
    form = SearchForm(request.GET or None, initial={"mode": "hybrid", "top_k": 5})
    context = {"kb": kb, "perms": perms, "search_form": form, "results": None, "error": ""}
    if form.is_bound and form.is_valid():
        query, mode, top_k = (form.cleaned_data[k] for k in ("query", "mode", "top_k"))
        group_by = form.cleaned_data.get("group_by") or "chunk"
        try:
            # grouped: each document's best chunk plus two more of its matches, shown folded under it
            per_document = 3 if group_by == "document" else 1
            results = chunk_search(
                kb=kb, query=query, mode=mode, top_k=top_k, group_by=group_by, chunks_per_document=per_document
            )
        except SearchError as exc:
            context["error"] = str(exc)
        else:
            for result in results:
                result.extra["highlighted"] = highlight(result.content, query)
                for other in result.document_chunks:
                    other.extra["highlighted"] = highlight(other.content, query)
            context.update(results=results, terms=query_terms(query), query=query, mode=mode, group_by=group_by)
            audit_record(
                event_type="document", action="search", user=request.user, request=request,
                workspace=kb.workspace, resource=kb,
                details={**query_fingerprint(query, mode=mode), "top_k": top_k, "group_by": group_by,
                         "documents": sorted({str(r.document_id) for r in results})},
            )  # fmt: skip
    template = "kb/search.html#results" if request.htmx else "kb/search.html"
    return render(request, template, context)
