"""Reads of knowledge-base data, always through the access funnel."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from kb.models import KnowledgeBase
from tenants.models import Perm
from tenants.selectors import parse_uuid, workspaces_for_user


def _guardian_codename(perm: str) -> str:
    return "kb." + perm.replace(":", "_")  # "kb:read" -> "kb.kb_read"


def kb_queryset_for_user(*, user, perm: str = Perm.KB_READ) -> QuerySet[KnowledgeBase]:
    """KBs in workspaces whose role grants `perm`, plus KBs shared with the user object by object."""
    if not getattr(user, "is_authenticated", False):
        return KnowledgeBase.objects.none()
    from guardian.shortcuts import get_objects_for_user

    by_role = workspaces_for_user(user=user, perm=perm).values("pk")
    shared = get_objects_for_user(
        user, _guardian_codename(perm), klass=KnowledgeBase, with_superuser=False, accept_global_perms=False
    ).values("pk")
    return KnowledgeBase.objects.filter(Q(workspace__in=by_role) | Q(pk__in=shared)).select_related(
        "workspace__organization"
    )


def kb_get_for_user(*, user, kb_id, perm: str = Perm.KB_READ) -> KnowledgeBase:
    kb_id = parse_uuid(kb_id)
    kb = kb_queryset_for_user(user=user, perm=perm).filter(pk=kb_id).first()
    if kb is not None:
        return kb
    if perm != Perm.KB_READ and kb_queryset_for_user(user=user, perm=Perm.KB_READ).filter(pk=kb_id).exists():
        raise PermissionDenied(f"you may read this knowledge base but not {perm}")
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
    from django.db.models import Count, Sum

    from kb.models import UNFINISHED, DocumentStatus

    rows = kb.documents.values("status").annotate(n=Count("pk"), chunks=Sum("chunk_count"), tokens=Sum("token_count"))
    by_status = {r["status"]: r["n"] for r in rows}
    total = sum(by_status.values())
    unfinished = sum(by_status.get(s, 0) for s in UNFINISHED)
    problems = by_status.get(DocumentStatus.FAILED, 0) + by_status.get(DocumentStatus.QUARANTINED, 0)
    if total == 0:
        overall = "empty"
    elif unfinished:
        overall = "processing"
    elif problems == total:
        overall = "failed"
    elif problems:
        overall = "ready_with_errors"
    else:
        overall = "ready"
    return {
        "status": overall,
        "documents": total,
        "by_status": by_status,
        "chunks": sum(r["chunks"] or 0 for r in rows if r["status"] == DocumentStatus.READY),
        "tokens": sum(r["tokens"] or 0 for r in rows if r["status"] == DocumentStatus.READY),
    }
