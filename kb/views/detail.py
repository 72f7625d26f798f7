"""The documents of the KB page: paged, filtered by name, status, source type and enabled, with live status
(polled only while something is unfinished), retry and disable / enable per document. Bulk actions are
kb.views.bulk. The full page, which also shows drafts, is pages.views.kb_detail."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import BooleanField, Case, ExpressionWrapper, IntegerField, Q, Value, When
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from kb.models import RETRYABLE, UNFINISHED, DocumentStatus, SourceType
from kb.selectors import documents_for_kb, kb_status_summary
from kb.services import SUPERSEDED, document_set_enabled
from kb.services import document_retry as retry_document
from kb.views.common import get_document, get_kb
from privexbot.errors import ServiceError
from tenants.models import Perm

PAGE_SIZE = 50
TEMPLATE = "kb/detail.html"
FILTER_FIELDS = ("q", "status", "source_type", "enabled")


class DocumentFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Name contains")
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *DocumentStatus.choices])
    source_type = forms.ChoiceField(required=False, label="Source", choices=[("", "Any source"), *SourceType.choices])
    enabled = forms.ChoiceField(
        required=False,
        label="In search",
        choices=[("", "Enabled and disabled"), ("yes", "Enabled"), ("no", "Disabled")],
    )


def document_filter(query) -> tuple[DocumentFilterForm, dict]:
    """The filter form bound to `query` (a QueryDict: the page's GET, or the fields a bulk form carries) and the
    documents_for_kb arguments of its valid fields (a malformed field is ignored and shown as an error)."""
    form = DocumentFilterForm({k: query.get(k, "") for k in FILTER_FIELDS})
    form.is_valid()
    data = form.cleaned_data
    enabled = {"yes": True, "no": False}.get(data.get("enabled") or "")
    return form, {
        "name": (data.get("q") or "").strip() or None, "status": data.get("status") or None,
        "source_type": data.get("source_type") or None, "enabled": enabled,
    }  # fmt: skip


def filter_query(form: DocumentFilterForm) -> str:
    """The filter as a query string (valid, non-empty fields only), for page links and the forms that come back."""
    data = getattr(form, "cleaned_data", {})
    return urlencode([(k, data[k]) for k in FILTER_FIELDS if data.get(k)])


def filtered_documents(kb, query):
    """(form, queryset) of the KB's documents matching the filter in `query`; problems first on the page."""
    form, arguments = document_filter(query)
    attention_first = Case(When(status__in=RETRYABLE, then=Value(0)), default=Value(1), output_field=IntegerField())
    superseded = ExpressionWrapper(Q(metadata__has_key=SUPERSEDED), output_field=BooleanField())
    documents = documents_for_kb(kb=kb, **arguments).defer("metadata", "stats", "stage_times")
    documents = documents.alias(attention=attention_first).annotate(superseded=superseded)
    return form, documents.order_by("attention", "created_at", "name", "pk")


def documents_context(kb, query=None) -> dict:
    """The documents partial: one page of the filtered list and the KB's counts, in a constant number of queries
    (the counts per status, the disabled count, whether it has website sources, the filtered count, the page)."""
    query = query if query is not None else {}
    form, documents = filtered_documents(kb, query)
    page = Paginator(documents, PAGE_SIZE).get_page(query.get("page"))
    summary = kb_status_summary(kb=kb)
    filters = filter_query(form)
    page_query = urlencode([*([("page", page.number)] if page.number > 1 else [])])
    return {
        "documents": page.object_list,
        "page": page,
        "filter_form": form,
        "filter_query": filters,
        "filtered": bool(filters),
        # the page itself, for the poll and the forms that return the partial: filters and page kept
        "here_query": "&".join(part for part in (filters, page_query) if part),
        "summary": summary,
        "disabled": kb.documents.filter(enabled=False).count(),
        "has_website_sources": kb.website_sources.exists(),  # the bulk "Re-sync websites" button
        "attention": sum(summary["by_status"].get(s, 0) for s in RETRYABLE),
        "polling": any(summary["by_status"].get(s, 0) for s in UNFINISHED),
    }


def _back(request, kb, perms):
    """The partial (HTMX) or a redirect to the page, with the filters and page the form was posted from."""
    if request.htmx:
        return render(
            request, f"{TEMPLATE}#documents", {"kb": kb, "perms": perms, **documents_context(kb, request.GET)}
        )
    query = request.GET.urlencode()
    return redirect(reverse("kb:detail", args=[kb.pk]) + (f"?{query}" if query else ""))


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
    if not request.htmx:
        messages.add_message(request, *outcome)
    return _back(request, kb, perms)


@login_required
@require_POST
def document_enabled(request, kb_id, document_id):
    """Disable a document (kept, left out of search) or enable it again: POST enabled=true|false."""
    kb, perms = get_kb(request, kb_id, perm=Perm.KB_UPDATE)
    document = get_document(kb, document_id)
    enabled = request.POST.get("enabled") in ("true", "1", "yes")
    try:
        document_set_enabled(document=document, enabled=enabled, user=request.user, request=request)
    except ServiceError as exc:  # an old version kept under a legal hold stays disabled
        messages.error(request, exc.message)
        return _back(request, kb, perms)
    if not request.htmx:
        state = "back in search" if enabled else "disabled: kept, but left out of search"
        messages.success(request, f"“{document.name}” is {state}.")
    return _back(request, kb, perms)
