"""Reads of knowledge-base data, always through the access funnel."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404

from kb.models import RETRYABLE, UNFINISHED, Chunk, Document, DocumentStatus, KnowledgeBase
from privexbot.logs import bind
from privexbot.metrics.definitions import UNAUTHORIZED_ACCESS
from tenants.models import Perm
from tenants.selectors import parse_uuid, workspaces_for_user
from tenants.tokens import kb_limit_of


def _guardian_codename(perm: str) -> str:
    return "kb." + perm.replace(":", "_")  # "kb:read" -> "kb.kb_read"


def kb_queryset_for_user(*, user, perm: str = Perm.KB_READ) -> QuerySet[KnowledgeBase]:
    """KBs in workspaces whose role grants `perm`, plus KBs shared with the user object by object; for a request
    made with a KB-limited API key, only those of its KBs."""
    if not getattr(user, "is_authenticated", False):
        return KnowledgeBase.objects.none()
    from guardian.shortcuts import get_objects_for_user

    by_role = workspaces_for_user(user=user, perm=perm).values("pk")
    shared = get_objects_for_user(
        user, _guardian_codename(perm), klass=KnowledgeBase, with_superuser=False, accept_global_perms=False
    ).values("pk")
    readable = KnowledgeBase.objects.filter(Q(workspace__in=by_role) | Q(pk__in=shared))
    if (limit := kb_limit_of(user)) is not None:  # an API key limited to some KBs: the others do not exist
        readable = readable.filter(pk__in=limit)
    return readable.select_related("workspace__organization")


def kb_choices_for_user(user) -> list[tuple]:
    """(id, "workspace / name") of the KBs the user may read: what an API key may be limited to."""
    rows = kb_queryset_for_user(user=user).order_by("workspace__name", "name")
    return [(kb.pk, f"{kb.workspace.name} / {kb.name}") for kb in rows]


def kb_get_for_user(*, user, kb_id, perm: str = Perm.KB_READ) -> KnowledgeBase:
    kb_id = parse_uuid(kb_id)
    kb = kb_queryset_for_user(user=user, perm=perm).filter(pk=kb_id).first()
    if kb is not None:
        bind(workspace_id=kb.workspace_id, kb_id=kb.pk)  # the rest of the request's lines are about this KB
        return kb
    if perm != Perm.KB_READ and kb_queryset_for_user(user=user, perm=Perm.KB_READ).filter(pk=kb_id).exists():
        UNAUTHORIZED_ACCESS.labels(resource="knowledge_base", outcome="403").inc()
        raise PermissionDenied(f"you may read this knowledge base but not {perm}")
    UNAUTHORIZED_ACCESS.labels(resource="knowledge_base", outcome="404").inc()
    raise Http404("knowledge base not found")


def kb_perms_for_user(*, user, kb: KnowledgeBase) -> frozenset[str]:
    """Permissions the user holds on one KB (role in its workspace plus object grants)."""
    from guardian.shortcuts import get_perms

    from tenants.selectors import user_workspace_perms

    perms = set(user_workspace_perms(user=user, workspace=kb.workspace))
    perms |= {p.replace("kb_", "kb:") for p in get_perms(user, kb) if p.startswith("kb_")}
    return frozenset(perms)


def kb_status_summary(*, kb: KnowledgeBase) -> dict:
    """Counts per document status, chunk totals and an overall status derived from the documents."""
    rows = kb.documents.values("status").annotate(n=Count("pk"), chunks=Sum("chunk_count"), tokens=Sum("token_count"))
    by_status = {r["status"]: r["n"] for r in rows}
    total = sum(by_status.values())
    unfinished = sum(by_status.get(s, 0) for s in UNFINISHED)
    problems = sum(by_status.get(s, 0) for s in PROBLEMS)
    overall = kb_overall_status(documents=total, unfinished=unfinished, problems=problems)
    return {
        "status": overall,
        "documents": total,
        "by_status": by_status,
        "chunks": sum(r["chunks"] or 0 for r in rows if r["status"] == DocumentStatus.READY),
        "tokens": sum(r["tokens"] or 0 for r in rows if r["status"] == DocumentStatus.READY),
    }


PROBLEMS = RETRYABLE


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


def kb_summaries_for_user(*, user, workspace_id) -> list[tuple[KnowledgeBase, dict]]:
    """(kb, summary) for a workspace's KBs, in one query: status, documents, chunks, problems."""
    rows = kb_list_for_user(user=user, workspace_id=workspace_id).order_by("name")
    return [
        (
            kb,
            {
                "status": kb_overall_status(
                    documents=kb.n_documents, unfinished=kb.n_unfinished, problems=kb.n_problems
                ),
                "documents": kb.n_documents,
                "chunks": kb.n_chunks or 0,
                "problems": kb.n_problems,
            },
        )
        for kb in rows
    ]


def documents_for_kb(
    *, kb: KnowledgeBase, status: str | None = None, name: str | None = None, source_type: str | None = None,
    enabled: bool | None = None,
) -> QuerySet[Document]:  # fmt: skip
    """The KB's documents, oldest first, filtered the same way for the API and the KB page: status, name
    containing `name` (any case), source type, enabled or disabled."""
    qs = kb.documents.order_by("created_at", "name", "pk")
    if status:
        qs = qs.filter(status=status)
    if name:
        qs = qs.filter(name__icontains=name)
    if source_type:
        qs = qs.filter(source_type=source_type)
    if enabled is not None:
        qs = qs.filter(enabled=enabled)
    return qs


def document_get(*, kb: KnowledgeBase, document_id) -> Document:
    document = kb.documents.select_related("kb__workspace").filter(pk=parse_uuid(document_id)).first()
    if document is None:
        raise Http404("document not found")
    return document


def chunks_for_kb(*, kb: KnowledgeBase, document_id=None) -> QuerySet[Chunk]:
    qs = (
        Chunk.objects.filter(kb=kb, generation=kb.generation)  # the serving index generation (kb.rebuild)
        .defer("embedding", "embedding_768", "search_vector")
        .order_by("document__created_at", "document_id", "index")
    )
    return qs.filter(document_id=document_id) if document_id is not None else qs


def document_parse_workspace(document_id) -> object | None:
    """The workspace whose parse slot (privexbot.slots) a run of this document needs, or None when it needs
    none: its parsed elements are kept (a finalized draft's documents), or it is not waiting for a worker."""
    from kb import states

    claimable = Q(status=DocumentStatus.QUEUED) | states.worker_silent()
    try:
        document_id = parse_uuid(document_id)
    except Http404:  # a message naming no valid id: the task body ignores it too
        return None
    rows = Document.objects.filter(claimable, pk=document_id, elements_file="")
    return rows.values_list("kb__workspace_id", flat=True).first()
