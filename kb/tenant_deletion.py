"""kb's part of a workspace's deletion and of a user's erasure (tenants sends `workspace_deleting` and
`user_erasing`, tenants.signals; it cannot import kb). Every KB goes through kb.deletion.delete_kb: the legal
hold, every derived copy, a signed receipt. Connected in kb.apps."""

from __future__ import annotations

from django.db.models import Exists, OuterRef

from kb.deletion import delete_kb
from kb.legal_hold import legal_hold_refuse_deletion
from kb.models import Chunk, Document, EmbeddingCache, KnowledgeBase

WORKSPACE_REASON = "workspace_deleted"  # the receipts' reason: the KB went with its workspace
ERASURE_REASON = "user_erased"


def _refuse_held(kbs) -> None:
    for kb in kbs:
        legal_hold_refuse_deletion(kb_id=kb.pk, what="it")  # locks the row until the transaction ends


def _delete_each(kbs, *, user, request, reason: str) -> dict:
    kbs = list(kbs)
    documents = Document.objects.filter(kb__in=kbs).count()
    receipts = [delete_kb(kb=kb, user=user, request=request, reason=reason) for kb in kbs]
    return {"knowledge_bases": len(kbs), "documents": documents, "receipt_ids": [str(r.pk) for r in receipts]}


def _revoke_keys_limited_to(kb_ids, *, user, request) -> int:
    """Keys limited to the deleted KBs only could do nothing any more: revoke them so their lists say so."""
    from tenants.models import ApiToken
    from tenants.tokens import api_token_revoke

    if not kb_ids:
        return 0
    limited = ApiToken.objects.filter(revoked_at__isnull=True, kb_ids__contained_by=kb_ids).exclude(kb_ids=[])
    tokens = list(limited)
    for token in tokens:
        api_token_revoke(token=token, user=user, request=request)
    return len(tokens)


def _organization_cache_drop(organization_id) -> int:
    """Once an organization holds no KB any more, none of its embedding-cache entries can be used: drop them all
    (delete_kb only prunes the entries of the texts it deleted)."""
    used = Chunk.objects.filter(kb__workspace__organization_id=organization_id, content_hash=OuterRef("text_hash"))
    return EmbeddingCache.objects.filter(organization_id=organization_id).exclude(Exists(used)).delete()[0]


def on_workspace_deleting(sender, *, workspace, user, request=None, reason="", check: bool, **kwargs):
    kbs = KnowledgeBase.objects.filter(workspace=workspace).select_related("workspace").order_by("created_at")
    if check:
        _refuse_held(kbs)
        return None
    kb_ids = list(kbs.values_list("pk", flat=True))
    counts = _delete_each(kbs, user=user, request=request, reason=WORKSPACE_REASON)
    counts["api_keys_revoked"] = _revoke_keys_limited_to(kb_ids, user=user, request=request)
    organization_id = workspace.organization_id
    if not KnowledgeBase.objects.filter(workspace__organization_id=organization_id).exists():
        counts["embedding_cache_entries"] = _organization_cache_drop(organization_id)
    return counts


def _their_kbs(user, workspace_ids):
    return (
        KnowledgeBase.objects.filter(created_by=user, workspace_id__in=list(workspace_ids))
        .select_related("workspace")
        .order_by("created_at")
    )


def on_user_erasing(sender, *, user, actor, content: str, workspace_ids, request=None, check: bool, **kwargs):
    """ "delete": the KBs the user created in `workspace_ids` go (receipts); "keep": they stay, `created_by`
    naming the tombstone. Either way the user's object grants on KBs end (audited like an unshare)."""
    kbs = _their_kbs(user, workspace_ids)
    if check:
        if content == "delete":
            _refuse_held(kbs)
        return None
    counts = {"knowledge_bases_kept": 0}
    if content == "delete":
        kb_ids = list(kbs.values_list("pk", flat=True))
        deleted = _delete_each(kbs, user=actor, request=request, reason=ERASURE_REASON)
        counts["knowledge_bases_deleted"] = deleted.pop("knowledge_bases")
        counts.update(deleted)
        counts["api_keys_revoked"] = _revoke_keys_limited_to(kb_ids, user=actor, request=request)
    else:
        counts["knowledge_bases_kept"] = kbs.count()
    counts["kb_grants_removed"] = _grants_end(user, actor=actor, request=request)
    return counts


def _grants_end(user, *, actor, request) -> int:
    from django.contrib.contenttypes.models import ContentType
    from guardian.models import UserObjectPermission

    from privexbot.audit import audit_record

    grants = UserObjectPermission.objects.filter(
        user=user, content_type=ContentType.objects.get_for_model(KnowledgeBase)
    )
    ended: dict[str, set[str]] = {}
    for object_pk, codename in grants.values_list("object_pk", "permission__codename"):
        ended.setdefault(object_pk, set()).add(codename)
    kbs = {str(kb.pk): kb for kb in KnowledgeBase.objects.filter(pk__in=list(ended)).select_related("workspace")}
    grants.delete()
    for object_pk, codenames in sorted(ended.items()):
        audit_record(
            event_type="kb_share", action="revoke", user=actor, request=request,
            workspace=kbs[object_pk].workspace if object_pk in kbs else None, resource_type="KnowledgeBase",
            resource=object_pk,
            details={"member_id": user.pk, "member": user.get_username(), "reason": "user_erased",
                     "before": sorted(codenames), "after": None},
        )  # fmt: skip
    return len(ended)
