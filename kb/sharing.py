"""Sharing one KB with a user beyond their workspace role: django-guardian object grants (read, or update which
includes read), which kb.selectors already reads. Who may share: the owners and admins of the KB's workspace
(Perm.WORKSPACE_MANAGE there); a user who only holds a grant cannot pass it on. With whom: active users of the
same organization (members of any of its workspaces) — never someone outside it.

A member removed from a workspace (or leaving it) loses their grants on its KBs, and API keys limited to its
KBs only are revoked: tenants sends `member_removed`, `on_member_removed` below answers (connected in
kb.apps). Deleting a KB removes its grants (kb.services.kb_delete).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404

from kb.models import KnowledgeBase
from kb.selectors import kb_get_for_user
from privexbot.audit import audit_record
from tenants.members import user_get_in_organization
from tenants.models import ROLE_PERMISSIONS, ApiToken, Membership, Perm
from tenants.selectors import user_workspace_perms

# What a grant may give (label shown in the page) -> the guardian codenames it assigns.
LEVELS = {"read": ("kb_read",), "update": ("kb_read", "kb_update")}
CODENAMES = ("kb_read", "kb_update", "kb_delete")


def _content_type():
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(KnowledgeBase)


def _grants_qs(kb: KnowledgeBase):
    from guardian.models import UserObjectPermission

    return UserObjectPermission.objects.filter(content_type=_content_type(), object_pk=str(kb.pk))


def kb_get_for_sharing(*, user, kb_id) -> KnowledgeBase:
    """The KB if the user manages its workspace: 404 if they cannot see it, 403 if they can but do not manage."""
    kb = kb_get_for_user(user=user, kb_id=kb_id)
    if Perm.WORKSPACE_MANAGE not in user_workspace_perms(user=user, workspace=kb.workspace):
        raise PermissionDenied("only owners and admins of the workspace may share this knowledge base")
    return kb


def _level(codenames: set[str]) -> str:
    return "update" if "kb_update" in codenames else "read"


def kb_grants(*, kb: KnowledgeBase) -> list[dict]:
    """[{user, level, codenames}] for every user holding a grant on the KB, by username."""
    by_user: dict[int, dict] = {}
    for row in _grants_qs(kb).select_related("user", "permission"):
        entry = by_user.setdefault(row.user_id, {"user": row.user, "codenames": set()})
        entry["codenames"].add(row.permission.codename)
    items = [{**e, "level": _level(e["codenames"])} for e in by_user.values()]
    return sorted(items, key=lambda e: e["user"].get_username().lower())


def _codenames_of(kb: KnowledgeBase, user) -> set[str]:
    return set(_grants_qs(kb).filter(user=user).values_list("permission__codename", flat=True))


@transaction.atomic
def kb_share(*, user, kb_id, identifier: str, level: str, request=None) -> dict:
    """Grant `level` ("read" or "update") on the KB to the organization's user named by username or email.
    Granting again replaces the previous level."""
    from guardian.shortcuts import assign_perm, remove_perm

    kb = kb_get_for_sharing(user=user, kb_id=kb_id)
    if level not in LEVELS:
        raise ValidationError({"level": [f"One of {', '.join(LEVELS)}."]})
    target = user_get_in_organization(organization_id=kb.workspace.organization_id, identifier=identifier)
    if target is None:
        raise ValidationError({"user": ["No user of this organization has that username or email."]})
    membership = Membership.objects.filter(user=target, workspace=kb.workspace).first()
    wanted = {"read": Perm.KB_READ, "update": Perm.KB_UPDATE}[level]
    if membership is not None and wanted in ROLE_PERMISSIONS[membership.role]:
        raise ValidationError(
            {"user": [f"{target.get_username()} already has {level} access as {membership.role} of the workspace."]}
        )
    before = _codenames_of(kb, target)
    after = set(LEVELS[level])
    for codename in sorted(after - before):
        assign_perm(codename, target, kb)
    for codename in sorted(before - after):
        remove_perm(codename, target, kb)
    if before != after:
        audit_record(
            event_type="kb_share", action="grant", user=user, request=request, workspace=kb.workspace, resource=kb,
            details={"member_id": target.pk, "member": target.get_username(),
                     "before": sorted(before) or None, "after": sorted(after)},
        )  # fmt: skip
    return {"user": target, "level": level, "codenames": after}


@transaction.atomic
def kb_unshare(*, user, kb_id, user_id, request=None) -> None:
    kb = kb_get_for_sharing(user=user, kb_id=kb_id)
    target = get_user_model().objects.filter(pk=user_id).first() if str(user_id).isdigit() else None
    before = _codenames_of(kb, target) if target is not None else set()
    if not before:
        raise Http404("no grant for this user")
    _grants_qs(kb).filter(user=target).delete()
    audit_record(
        event_type="kb_share", action="revoke", user=user, request=request, workspace=kb.workspace, resource=kb,
        details={"member_id": target.pk, "member": target.get_username(), "before": sorted(before), "after": None},
    )  # fmt: skip


def on_member_removed(sender, *, workspace, user, actor=None, request=None, **kwargs) -> None:
    """End what the workspace gave the removed member beyond the membership itself (see the module doc)."""
    from guardian.models import UserObjectPermission

    from tenants.tokens import api_token_revoke

    kb_ids = list(KnowledgeBase.objects.filter(workspace=workspace).values_list("pk", flat=True))
    if not kb_ids:
        return
    grants = UserObjectPermission.objects.filter(
        user=user, content_type=_content_type(), object_pk__in=[str(pk) for pk in kb_ids]
    )
    ended: dict[str, set[str]] = {}
    for object_pk, codename in grants.values_list("object_pk", "permission__codename"):
        ended.setdefault(object_pk, set()).add(codename)
    grants.delete()
    for object_pk, codenames in sorted(ended.items()):
        audit_record(
            event_type="kb_share", action="revoke", user=actor, request=request, workspace=workspace,
            resource_type="KnowledgeBase", resource=object_pk,
            details={"member_id": user.pk, "member": user.get_username(), "reason": "member_removed",
                     "before": sorted(codenames), "after": None},
        )  # fmt: skip
    # Keys limited to KBs of this workspace only could do nothing any more: revoke them so the list says so.
    limited = ApiToken.objects.filter(user=user, revoked_at__isnull=True, kb_ids__contained_by=kb_ids).exclude(
        kb_ids=[]
    )
    for token in limited:
        api_token_revoke(token=token, user=actor, request=request)
