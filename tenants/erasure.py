"""Erasure of a user (the right to erasure): `user_erase`, the one service behind every door (the profile page,
the User admin's action, `manage.py erase_user`, `POST /api/v1/me/erase`).

What goes: the account can no longer be used (inactive, unusable password, every session, API key, MFA
authenticator, allauth email address and security row deleted) and its personal data is removed — username
replaced by a stable pseudonym (privexbot.audit.pseudonyms), email and names cleared, axes' login records of the
old username, invitations to their email, the admin log's copies of the old username. Memberships are removed
(with `member_removed`, so KB grants and KB-limited keys end too); object grants and groups go.

What stays: the user row, as a tombstone. Audit rows are append-only and hash-chained; their `user_id` keeps
naming this one pseudonymous id, and every place that shows them shows the pseudonym (the stored historic
username stays until AUDIT_RETENTION_DAYS purges the rows: a legal-obligation retention). What they created in
workspaces follows the explicit `content` choice:
- "keep": KBs and drafts stay with their workspace (`created_by` points at the tombstone);
- "delete": the KBs they created and their drafts, in the workspaces they are a member of, go through the
  deletion services (kb.deletion: signed receipts, shredded files), and a workspace where they are the only
  member goes whole (tenants.workspaces). tenants cannot import kb or drafts: `user_erasing` asks them.

Refused, with nothing changed: by anyone but the user or a superuser; when the user is the last owner of a
workspace that has other members (ownership must be handed over first); when "delete" would reach a KB under
legal hold; an account already erased.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from privexbot.audit import audit_record
from privexbot.audit.pseudonyms import IDENTIFIERS_KEY, erased_users, identifier_digest, pseudonym_for
from privexbot.errors import Conflict, ServiceError
from privexbot.metrics.definitions import USER_ERASURES
from tenants.models import ApiToken, Invitation, Membership, Role, UserSecurity, Workspace
from tenants.signals import collect_counts, member_removed, user_erasing
from tenants.workspaces import workspace_delete, workspace_delete_check

CONTENT_CHOICES = ("keep", "delete")


@dataclass
class ErasureResult:
    pseudonym: str
    content: str
    counts: dict = field(default_factory=dict)


def user_is_erased(user) -> bool:
    return erased_users().filter(pk=user.pk).exists()


def _check_allowed(*, user, actor) -> None:
    if actor is None:  # the operator, through `manage.py erase_user` (who runs it holds the database anyway)
        return
    if not getattr(actor, "is_authenticated", False) or not actor.is_active:
        raise PermissionDenied("log in to erase an account")
    if actor.pk != user.pk and not actor.is_superuser:
        raise PermissionDenied("only the user themself or a superuser may erase an account")


def _check_content(content) -> str:
    if content not in CONTENT_CHOICES:
        raise ValidationError(
            {"content": [f"Choose what happens to what the account created: {' or '.join(CONTENT_CHOICES)}."]}
        )
    return content


def _owned_workspaces(user) -> tuple[list[Workspace], list[Workspace]]:
    """(workspaces where the user is the last owner and others are members, workspaces where they are alone)."""
    theirs = Membership.objects.filter(user=user, role=Role.OWNER).values("workspace_id")
    # Membership changes lock their workspace row (tenants.members): locked here, two owners erasing themselves
    # at once cannot both see the other as the remaining owner. (FOR UPDATE cannot take the aggregate below.)
    list(Workspace.objects.select_for_update().filter(pk__in=theirs).order_by("pk").values_list("pk", flat=True))
    owned = (
        Workspace.objects.filter(pk__in=theirs)  # a subquery: filtering on the join would narrow the counts to them
        .annotate(
            owners=Count("memberships", filter=Q(memberships__role=Role.OWNER), distinct=True),
            members=Count("memberships", distinct=True),
        )
        .select_related("organization")
        .order_by("name")
    )
    blocking = [w for w in owned if w.owners == 1 and w.members > 1]
    alone = [w for w in owned if w.members == 1]
    return blocking, alone


def _refuse_last_owner(blocking: list[Workspace]) -> None:
    if blocking:
        names = ", ".join(f"“{w.name}”" for w in blocking)
        raise Conflict(
            f"The account is the last owner of {names}, which other members still use: make one of them an owner "
            "(or transfer ownership) first.",
            code="last_owner",
            details={"workspaces": [str(w.pk) for w in blocking]},
        )


def _anonymize(user, *, pseudonym: str) -> None:
    user.username = pseudonym
    user.email = ""
    user.first_name = user.last_name = ""
    user.is_active = user.is_staff = user.is_superuser = False
    user.last_login = None
    user.set_unusable_password()
    user.save(
        update_fields=["username", "email", "first_name", "last_name", "is_active", "is_staff", "is_superuser",
                       "last_login", "password"]
    )  # fmt: skip


def _sessions_delete(user_pk) -> int:
    """Every stored session of the account (the inactive account and its changed password end them anyway;
    this removes what they hold). Sessions are signed blobs: each is decoded to find its user."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import SESSION_KEY

    store = import_module(settings.SESSION_ENGINE).SessionStore
    if not hasattr(store, "get_model_class"):  # a cache or cookie backend: nothing stored server-side to list
        return 0
    ended = 0
    for session in store.get_model_class().objects.iterator():
        if str(session.get_decoded().get(SESSION_KEY)) == str(user_pk):
            store(session_key=session.session_key).delete()  # through the store: cached_db drops its cache too
            ended += 1
    return ended


def _remove_memberships(user, *, actor, request) -> int:
    memberships = list(Membership.objects.filter(user=user).select_related("workspace__organization"))
    for membership in memberships:
        Workspace.objects.select_for_update().filter(pk=membership.workspace_id).first()
        audit_record(
            event_type="membership", action="remove", user=actor, request=request, workspace=membership.workspace,
            resource=membership, details={"member_id": user.pk, "member": user.username, "reason": "user_erased",
                                          "before": {"role": membership.role}, "after": None},
        )  # fmt: skip
        membership.delete()
        member_removed.send(sender=Membership, workspace=membership.workspace, user=user, actor=actor, request=request)
    return len(memberships)


def _identity_delete(user, *, old_username: str, old_email: str, actor, request) -> dict:
    from allauth.account.models import EmailAddress
    from allauth.mfa.models import Authenticator
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType
    from guardian.models import UserObjectPermission

    from tenants.tokens import api_token_revoke

    counts = {}
    tokens = list(ApiToken.objects.filter(user=user))
    for token in tokens:
        api_token_revoke(token=token, user=actor, request=request)
    counts["api_keys"] = ApiToken.objects.filter(user=user).delete()[0]
    counts["mfa_authenticators"] = Authenticator.objects.filter(user=user).delete()[0]
    counts["email_addresses"] = EmailAddress.objects.filter(user=user).count()
    EmailAddress.objects.filter(user=user).delete()  # its confirmations cascade
    counts["sessions"] = _sessions_delete(user.pk)
    UserSecurity.objects.filter(user=user).delete()
    axes = 0
    for model in (AccessAttempt, AccessLog, AccessFailureLog):
        axes += model.objects.filter(username=old_username).delete()[0]
    counts["login_records"] = axes
    # Invitations to them (pending or accepted) hold their email address; the workspace keeps the membership
    # history in the audit log.
    to_them = Q(accepted_by=user) | (Q(email__iexact=old_email) if old_email else Q(pk__in=[]))
    received = Invitation.objects.filter(to_them)
    counts["invitations_received"] = received.delete()[0]
    sent = Invitation.objects.filter(invited_by=user, accepted_at__isnull=True, revoked_at__isnull=True)
    counts["invitations_withdrawn"] = sent.count()
    for invitation in sent.select_related("workspace"):
        Invitation.objects.filter(pk=invitation.pk).update(revoked_at=timezone.now())
        audit_record(
            event_type="invitation", action="revoke", user=actor, request=request, workspace=invitation.workspace,
            resource=invitation, details={"reason": "inviter_erased"},
        )  # fmt: skip
    counts["object_grants"] = UserObjectPermission.objects.filter(user=user).delete()[0]
    user.groups.clear()
    user.user_permissions.clear()
    # The admin's own history copies an object's text when it is changed: the old username, for this account.
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(get_user_model()), object_id=str(user.pk)
    ).update(object_repr=user.username)
    return counts


def _refusal_code(refusal: Exception) -> str:
    if isinstance(refusal, ServiceError):
        return refusal.code
    return "permission_denied" if isinstance(refusal, PermissionDenied) else "invalid"


def erasure_check(*, user, actor, content: str) -> tuple[list[Workspace], list[int]]:
    """Every refusal, before anything changes: (the workspaces where the user is alone, which "delete" takes
    whole; the workspaces whose KBs and drafts by the user the signal's receivers handle)."""
    _check_allowed(user=user, actor=actor)
    _check_content(content)
    if user_is_erased(user):
        raise Conflict("This account has already been erased.", code="already_erased")
    blocking, alone = _owned_workspaces(user)
    _refuse_last_owner(blocking)
    alone = alone if content == "delete" else []
    for workspace in alone:
        workspace_delete_check(workspace=workspace, user=actor)
    taken = {w.pk for w in alone}
    workspace_ids = [pk for pk in Membership.objects.filter(user=user).values_list("workspace_id", flat=True)
                     if pk not in taken]  # fmt: skip
    user_erasing.send(
        sender=get_user_model(), user=user, actor=actor, content=content, workspace_ids=workspace_ids,
        request=None, check=True,
    )  # fmt: skip
    return alone, workspace_ids


@transaction.atomic
def user_erase(*, user, actor, content: str, request=None, door: str = "web") -> ErasureResult:
    """Erase `user` (see the module doc); `content` is "keep" or "delete". `actor`: the user themself or a
    superuser; None only from the operator's command. Raises PermissionDenied, ValidationError or Conflict
    (nothing changed) when refused."""
    User = get_user_model()
    locked = User.objects.select_for_update().get(pk=user.pk)
    acting_self = actor is not None and actor.pk == locked.pk
    try:
        alone, workspace_ids = erasure_check(user=locked, actor=locked if acting_self else actor, content=content)
    except (ServiceError, PermissionDenied, ValidationError) as refusal:
        audit_record(
            event_type="user", action="erase", user=actor, request=request, resource=locked, resource_type="User",
            success=False, details={"content": str(content)[:16], "refused": _refusal_code(refusal)},
        )  # fmt: skip
        raise
    old_username, old_email = locked.username, locked.email
    pseudonym = pseudonym_for(locked.pk)
    # First: every event written from here on (memberships, keys, deletions) names the pseudonym, never the name.
    _anonymize(locked, pseudonym=pseudonym)
    actor = locked if acting_self else actor
    for name in ("username", "email", "first_name", "last_name", "is_active", "is_staff", "is_superuser", "password"):
        setattr(user, name, getattr(locked, name))  # the caller's copy (request.user) says the same
    counts: dict = {"workspaces_deleted": 0}
    receipt_ids: list = []
    for workspace in alone:
        result = workspace_delete(workspace=workspace, user=actor, request=request, reason="user_erased")
        counts["workspaces_deleted"] += 1
        receipt_ids += result.get("receipt_ids", [])
    answers = collect_counts(
        user_erasing.send(
            sender=User, user=locked, actor=actor, content=content, workspace_ids=workspace_ids, request=request,
            check=False,
        )
    )  # fmt: skip
    receipt_ids += answers.pop("receipt_ids", [])
    counts.update(answers)
    counts["memberships"] = _remove_memberships(locked, actor=actor, request=request)
    counts.update(_identity_delete(locked, old_username=old_username, old_email=old_email, actor=actor,
                                   request=request))  # fmt: skip
    by = "self" if acting_self else ("superuser" if actor is not None else "operator")
    audit_record(
        event_type="user", action="erase", user=actor, request=request, resource=locked, resource_type="User",
        details={"pseudonym": pseudonym, "content": content, "by": by, "door": door, "receipt_ids": receipt_ids,
                 IDENTIFIERS_KEY: [identifier_digest(v) for v in (old_username, old_email) if v], **counts},
    )  # fmt: skip
    transaction.on_commit(USER_ERASURES.labels(door=door, content=content).inc)
    return ErasureResult(pseudonym=pseudonym, content=content, counts={**counts, "receipt_ids": receipt_ids})


def erasure_password_check(*, user, password: str, request) -> None:
    """The password re-entered before an erasure, checked like a login: through the authentication backends,
    so axes counts a wrong one towards the account's lockout (and refuses while locked) and the failure is
    audited (privexbot.signals). Raises ValidationError when it does not match."""
    from django.contrib.auth import authenticate

    http_request = getattr(request, "_request", request)  # DRF's Request wraps Django's
    if not password or authenticate(http_request, username=user.get_username(), password=password) is None:
        raise ValidationError({"password": ["The password is not right (or too many attempts: try again later)."]})
