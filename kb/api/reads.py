"""Reads the KB API needs beyond kb.selectors. Every function starts from a KB that came through the access
funnel (kb_get_for_user / kb_queryset_for_user), so nothing here can reach another tenant's rows.
Lead: these belong in kb/selectors.py; they live here only because this change could not edit that module."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404

from kb.models import UNFINISHED, Chunk, Document, DocumentStatus, KnowledgeBase
from kb.selectors import kb_queryset_for_user
from tenants.selectors import parse_uuid

PROBLEMS = (DocumentStatus.FAILED, DocumentStatus.QUARANTINED)


def kb_list_for_user(*, user, workspace_id=None) -> QuerySet[KnowledgeBase]:
    """Readable KBs (optionally of one workspace) with document and chunk counts, in one query."""
    qs = kb_queryset_for_user(user=user)
    if workspace_id is not None:
        qs = qs.filter(workspace_id=workspace_id)
    return qs.annotate(
        n_documents=Count("documents"),
        n_unfinished=Count("documents", filter=Q(documents__status__in=UNFINISHED)),
        n_problems=Count("documents", filter=Q(documents__status__in=PROBLEMS)),
        n_chunks=Sum("documents__chunk_count", filter=Q(documents__status=DocumentStatus.READY)),
    ).order_by("-created_at")


def kb_overall_status(*, documents: int, unfinished: int, problems: int) -> str:
    """The same rule as kb.selectors.kb_status_summary, from counts."""
    if documents == 0:
        return "empty"
    if unfinished:
        return "processing"
    if problems == documents:
        return "failed"
    return "ready_with_errors" if problems else "ready"


def documents_for_kb(*, kb: KnowledgeBase, status: str | None = None) -> QuerySet[Document]:
    qs = kb.documents.order_by("created_at", "name")
    return qs.filter(status=status) if status else qs


def document_get(*, kb: KnowledgeBase, document_id) -> Document:
    document = kb.documents.select_related("kb__workspace").filter(pk=parse_uuid(document_id)).first()
    if document is None:
        raise Http404("document not found")
    return document


def chunks_for_kb(*, kb: KnowledgeBase, document_id=None) -> QuerySet[Chunk]:
    qs = (
        Chunk.objects.filter(kb=kb)
        .defer("embedding", "embedding_768", "search_vector")
        .order_by("document__created_at", "document_id", "index")
    )
    return qs.filter(document_id=document_id) if document_id is not None else qs
