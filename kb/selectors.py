"""Reads of knowledge-base data, always through the access funnel."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404

from kb.models import RETRYABLE, UNFINISHED, Chunk, Document, DocumentStatus, KnowledgeBase
from privexbot.logs import bind
from privexbot.metrics.definitions import UNAUTHORIZED_ACCESS
from tenants.models import ROLE_PERMISSIONS, Membership, Perm
from tenants.selectors import parse_uuid
from tenants.tokens import kb_limit_of


def _guardian_codename(perm: str) -> str:
    return perm.replace(":", "_")  # "kb:read" -> "kb_read"


def _may(user, perm: str) -> Q:
    """Whether `user` holds `perm` on a KB row, as one condition the database evaluates with the row: a role in
    its workspace that grants it, or django-guardian's object grant to the user or to one of their groups (KB
    shares). The same rule as guardian's get_objects_for_user(with_superuser=False, accept_global_perms=False),
    written as EXISTS subqueries so one query answers it (guardian's generic queryset costs Python and a plan
    over a cast of every KB id)."""
    from django.contrib.contenttypes.models import ContentType
    from django.db.models import CharField, Exists, OuterRef
    from django.db.models.functions import Cast
    from guardian.models import GroupObjectPermission, UserObjectPermission

    roles = [role for role, perms in ROLE_PERMISSIONS.items() if perm in perms]
    ctype = ContentType.objects.get_for_model(KnowledgeBase)  # cached by Django after the first call
    codename = _guardian_codename(perm)
    object_pk = Cast(OuterRef("pk"), CharField())
    by_role = Membership.objects.filter(user=user, workspace_id=OuterRef("workspace_id"), role__in=roles)
    by_grant = UserObjectPermission.objects.filter(
        user=user, content_type=ctype, permission__content_type=ctype, permission__codename=codename,
        object_pk=object_pk,
    )  # fmt: skip
    by_group = GroupObjectPermission.objects.filter(
        group__user=user, content_type=ctype, permission__content_type=ctype, permission__codename=codename,
        object_pk=object_pk,
    )  # fmt: skip
    return Q(Exists(by_role)) | Q(Exists(by_grant)) | Q(Exists(by_group))


def kb_queryset_for_user(*, user, perm: str = Perm.KB_READ) -> QuerySet[KnowledgeBase]:
    """KBs in workspaces whose role grants `perm`, plus KBs shared with the user object by object; for a request
    made with a KB-limited API key, only those of its KBs."""
    if not getattr(user, "is_authenticated", False):
        return KnowledgeBase.objects.none()
    readable = KnowledgeBase.objects.filter(_may(user, perm))
    if (limit := kb_limit_of(user)) is not None:  # an API key limited to some KBs: the others do not exist
        readable = readable.filter(pk__in=limit)
    return readable.select_related("workspace__organization")


def kb_choices_for_user(user) -> list[tuple]:
    """(id, "workspace / name") of the KBs the user may read: what an API key may be limited to."""
    rows = kb_queryset_for_user(user=user).order_by("workspace__name", "name")
    return [(kb.pk, f"{kb.workspace.name} / {kb.name}") for kb in rows]


def _may_sql(user, perm: str) -> tuple[str, list]:
    """`_may` as SQL over the outer row "kb_knowledgebase", with its parameters: the same three EXISTS (role,
    grant to the user, grant to one of their groups). Built as text because compiling `_may`'s ORM expressions
    costs more than running the query, and shaped to plan cheaply (planning was most of its cost, issue 18): the
    permission's id comes from one uncorrelated sub-select instead of a join in each grant. Only
    `kb_get_for_user` uses it, on a query it builds itself (so the outer alias is known), and
    tests/kb/test_access_funnel.py checks that both answer alike for every persona."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType
    from guardian.models import GroupObjectPermission, UserObjectPermission

    ctype = ContentType.objects.get_for_model(KnowledgeBase).pk  # cached by Django after the first call
    roles = [str(role) for role, perms in ROLE_PERMISSIONS.items() if perm in perms]
    permission = f"(SELECT p.id FROM {Permission._meta.db_table} p WHERE p.content_type_id = %s AND p.codename = %s)"  # noqa: S608
    grant = (
        "SELECT 1 FROM {grants} g {join} WHERE {who} = %s AND g.permission_id = {permission}"
        " AND g.content_type_id = %s AND g.object_pk = kb_knowledgebase.id::text"
    )
    by_user = grant.format(grants=UserObjectPermission._meta.db_table, join="", who="g.user_id", permission=permission)
    by_group = grant.format(
        grants=GroupObjectPermission._meta.db_table, who="ug.user_id", permission=permission,
        join=f"JOIN {get_user_model().groups.through._meta.db_table} ug ON ug.group_id = g.group_id",
    )  # fmt: skip
    by_role = (
        f"SELECT 1 FROM {Membership._meta.db_table} m WHERE m.user_id = %s"  # noqa: S608 - table names, values bound
        " AND m.workspace_id = kb_knowledgebase.workspace_id AND m.role = ANY(%s)"
    )
    codename = _guardian_codename(perm)
    sql = f"(EXISTS ({by_role}) OR EXISTS ({by_user}) OR EXISTS ({by_group}))"
    return sql, [user.pk, roles, user.pk, ctype, codename, ctype, user.pk, ctype, codename, ctype]


def kb_get_for_user(*, user, kb_id, perm: str = Perm.KB_READ) -> KnowledgeBase:
    """The KB if the user holds `perm` on it; a 404 if they may not even read it (or it does not exist, or their
    key is limited to other KBs), a 403 if they may read it but not `perm`. One query: the row by its key (with its
    workspace and organization) and, beside it, whether `perm` is held and, for another `perm`, whether reading is;
    the row is only returned when the first holds (the flags are selected, not filtered on, so each check is
    planned once)."""
    from django.db.models import BooleanField
    from django.db.models.expressions import RawSQL

    kb_id = parse_uuid(kb_id)
    kb = None
    limit = kb_limit_of(user)
    if getattr(user, "is_authenticated", False) and (limit is None or kb_id in limit):
        allowed, params = _may_sql(user, perm)
        flags = {"funnel_allowed": RawSQL(allowed, params, output_field=BooleanField())}  # noqa: S611 - fixed SQL
        if perm != Perm.KB_READ:
            readable, readable_params = _may_sql(user, Perm.KB_READ)
            flags["funnel_readable"] = RawSQL(readable, readable_params, output_field=BooleanField())  # noqa: S611
        kb = KnowledgeBase.objects.select_related("workspace__organization").annotate(**flags).filter(pk=kb_id).first()
    if kb is not None and kb.funnel_allowed:
        bind(workspace_id=kb.workspace_id, kb_id=kb.pk)  # the rest of the request's lines are about this KB
        return kb
    if kb is not None and getattr(kb, "funnel_readable", False):
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
