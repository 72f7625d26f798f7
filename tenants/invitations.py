"""Invitations to a workspace: invite by email with a role, resend, revoke, accept (existing or new account).

The link carries a random token; only its SHA-256 is stored, so a database leak reveals no usable link. A link
works once (accepting is a guarded UPDATE), until INVITATION_EXPIRY_DAYS after it was (re)sent, and not after it
was revoked or replaced: inviting the same email again, or resending, issues a new token and the old link dies.

Accepting needs the invited address: the accepting account's email must equal the invitation's
(case-insensitive). A link forwarded to someone else, or opened while logged in as another user, is refused.
Without an account, the accept page creates one with the invited email (the link proved the address).

Owners and admins invite (Perm.WORKSPACE_MANAGE); only owners may invite someone as an owner.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from privexbot.audit import audit_record
from privexbot.errors import ServiceError
from tenants.models import Invitation, Membership, Perm, Role, Workspace
from tenants.selectors import parse_uuid, workspace_get_for_user

TOKEN_BYTES = 32


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, _hash(token)


def _expiry():
    return timezone.now() + timedelta(days=settings.INVITATION_EXPIRY_DAYS)


def invitation_status(invitation: Invitation) -> str:
    if invitation.accepted_at is not None:
        return "accepted"
    if invitation.revoked_at is not None:
        return "revoked"
    return "expired" if invitation.expires_at <= timezone.now() else "pending"


def accept_url(*, token: str, request=None) -> str:
    """SITE_URL when set (the address users reach, behind any proxy), else the address of this request."""
    path = reverse("workspaces:invitation_accept", kwargs={"token": token})
    if settings.SITE_URL:
        return settings.SITE_URL.rstrip("/") + path
    if request is None:
        raise ServiceError("no_site_url", "Set SITE_URL to send invitations outside a web request.")
    return request.build_absolute_uri(path)


def _send(*, invitation: Invitation, token: str, inviter, request) -> None:
    link = accept_url(token=token, request=request)
    who = inviter.get_full_name() or inviter.get_username()
    body = (
        f"{who} invites you to the workspace “{invitation.workspace.name}” "
        f"({invitation.workspace.organization.name}) on PrivexBot KB as {invitation.get_role_display().lower()}.\n\n"
        f"Accept the invitation:\n{link}\n\n"
        f"The link works once and expires on {invitation.expires_at:%Y-%m-%d %H:%M} UTC. "
        "If you did not expect this email, ignore it."
    )
    subject = f"Invitation to {invitation.workspace.name} on PrivexBot KB"
    send_mail(subject, body, None, [invitation.email])  # None: DEFAULT_FROM_EMAIL


def _pending(workspace: Workspace) -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        workspace=workspace, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    )


def _details(invitation: Invitation) -> dict:
    return {"email": invitation.email, "role": invitation.role, "expires_at": invitation.expires_at.isoformat()}


# ---------------------------------------------------------------- reads


def invitations_for_workspace(*, user, workspace_id) -> QuerySet[Invitation]:
    """Pending invitations (manage permission: they name people who are not members yet)."""
    workspace = workspace_get_for_user(user=user, workspace_id=workspace_id, perm=Perm.WORKSPACE_MANAGE)
    return _pending(workspace).select_related("invited_by").order_by("-created_at")


def invitation_get_by_token(*, token: str) -> Invitation:
    """The invitation a link names, if it can still be accepted; 404 for an unknown token, a clear error for
    one that was used, revoked, replaced or has expired."""
    invitation = (
        Invitation.objects.select_related("workspace__organization", "invited_by")
        .filter(token_hash=_hash(token or ""))
        .first()
    )
    if invitation is None:
        raise Http404("invitation not found")
    status = invitation_status(invitation)
    if status != "pending":
        messages = {
            "accepted": "This invitation was already used.",
            "revoked": "This invitation was withdrawn (or replaced by a newer one).",
            "expired": "This invitation has expired: ask for a new one.",
        }
        raise ServiceError(f"invitation_{status}", messages[status], http_status=410)
    return invitation


def _get(*, user, workspace_id, invitation_id) -> tuple[Workspace, Invitation]:
    workspace = workspace_get_for_user(user=user, workspace_id=workspace_id, perm=Perm.WORKSPACE_MANAGE)
    invitation = Invitation.objects.filter(workspace=workspace, pk=parse_uuid(invitation_id)).first()
    if invitation is None:
        raise Http404("invitation not found")
    return workspace, invitation


# ---------------------------------------------------------------- writes


def invitation_create(*, user, workspace_id, email: str, role: str = Role.VIEWER, request=None):
    """Invite an email with a role and send the link. Returns (invitation, token); the token is only in the
    email (and the return value, for the caller that wants to show or test it) and never stored."""
    workspace = workspace_get_for_user(user=user, workspace_id=workspace_id, perm=Perm.WORKSPACE_MANAGE)
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": ["Enter a valid email address."]}) from None
    if role not in Role.values:
        raise ValidationError({"role": [f"Unknown role {role!r}; one of {', '.join(Role.values)}."]})
    if role == Role.OWNER and workspace.role != Role.OWNER:
        raise PermissionDenied("only an owner may invite another owner")
    if Membership.objects.filter(workspace=workspace, user__email__iexact=email).exists():
        raise ValidationError({"email": ["Someone with this email is already a member of this workspace."]})
    token, token_hash = _new_token()
    with transaction.atomic():
        replaced = list(_pending(workspace).select_for_update().filter(email__iexact=email))
        now = timezone.now()
        Invitation.objects.filter(pk__in=[i.pk for i in replaced]).update(revoked_at=now)
        invitation = Invitation.objects.create(
            workspace=workspace, email=email, role=role, token_hash=token_hash, invited_by=user, expires_at=_expiry()
        )
        previous = replaced[0] if replaced else None
        audit_record(
            event_type="invitation", action="create", user=user, request=request, workspace=workspace,
            resource=invitation,
            details={"before": ({"invitation_id": str(previous.pk), **_details(previous)} if previous else None),
                     "after": _details(invitation)},
        )  # fmt: skip
    _send_or_withdraw(invitation=invitation, token=token, user=user, request=request)
    return invitation, token


def _send_or_withdraw(*, invitation: Invitation, token: str, user, request) -> None:
    """A link nobody received must not stay usable: when sending fails the invitation is revoked."""
    try:
        _send(invitation=invitation, token=token, inviter=user, request=request)
    except (OSError, ServiceError) as exc:  # smtplib errors are OSErrors
        Invitation.objects.filter(pk=invitation.pk).update(revoked_at=timezone.now())
        if isinstance(exc, ServiceError):
            raise
        raise ServiceError(
            "email_failed", "The invitation email could not be sent; try again.", http_status=502
        ) from exc


def invitation_resend(*, user, workspace_id, invitation_id, request=None) -> tuple[Invitation, str]:
    """A new link (the old one stops working) with a fresh expiry, sent again."""
    with transaction.atomic():
        workspace, invitation = _get(user=user, workspace_id=workspace_id, invitation_id=invitation_id)
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.accepted_at is not None or invitation.revoked_at is not None:
            raise ValidationError(
                {"invitation": [ValidationError(f"This invitation was {invitation_status(invitation)}.", "conflict")]}
            )
        before = _details(invitation)
        token, token_hash = _new_token()
        invitation.token_hash, invitation.expires_at = token_hash, _expiry()
        invitation.save(update_fields=["token_hash", "expires_at"])
        audit_record(
            event_type="invitation", action="resend", user=user, request=request, workspace=workspace,
            resource=invitation, details={"before": before, "after": _details(invitation)},
        )  # fmt: skip
    _send_or_withdraw(invitation=invitation, token=token, user=user, request=request)
    return invitation, token


@transaction.atomic
def invitation_revoke(*, user, workspace_id, invitation_id, request=None) -> Invitation:
    workspace, invitation = _get(user=user, workspace_id=workspace_id, invitation_id=invitation_id)
    if invitation.accepted_at is not None:
        raise ValidationError({"invitation": [ValidationError("This invitation was already accepted.", "conflict")]})
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        Invitation.objects.filter(pk=invitation.pk, revoked_at__isnull=True).update(revoked_at=invitation.revoked_at)
        audit_record(
            event_type="invitation", action="revoke", user=user, request=request, workspace=workspace,
            resource=invitation,
            details={"before": {**_details(invitation), "status": "pending"},
                     "after": {**_details(invitation), "status": "revoked"}},
        )  # fmt: skip
    return invitation


def email_matches(user, invitation: Invitation) -> bool:
    return bool(user.email) and user.email.strip().casefold() == invitation.email.strip().casefold()


def invitation_accept(*, token: str, user, request=None) -> Membership:
    """The logged-in user joins the workspace with the invited role. Single use: the first accept wins."""
    if not getattr(user, "is_authenticated", False):
        raise PermissionDenied("log in (or create an account) to accept an invitation")
    invitation = invitation_get_by_token(token=token)
    if not email_matches(user, invitation):
        audit_record(
            event_type="invitation", action="accept", user=user, request=request, workspace=invitation.workspace,
            resource=invitation, success=False, details={"reason": "email_mismatch", "email": invitation.email},
        )  # fmt: skip
        raise ServiceError(
            "wrong_account",
            f"This invitation was sent to another email address. Log in with the account of {invitation.email}.",
            http_status=403,
        )
    # The refusal above is recorded outside the transaction below, so it stays in the audit log.
    with transaction.atomic():
        return _claim(invitation=invitation, user=user, request=request)


def _claim(*, invitation: Invitation, user, request) -> Membership:
    now = timezone.now()
    claimed = Invitation.objects.filter(
        pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
    ).update(accepted_at=now, accepted_by=user)
    if not claimed:  # accepted (or revoked) between the read and this update
        raise ServiceError("invitation_accepted", "This invitation was already used.", http_status=410)
    workspace = invitation.workspace
    membership, created = Membership.objects.get_or_create(
        user=user, workspace=workspace, defaults={"role": invitation.role}
    )
    audit_record(
        event_type="invitation", action="accept", user=user, request=request, workspace=workspace,
        resource=invitation,
        details={"before": {**_details(invitation), "status": "pending"},
                 "after": {**_details(invitation), "status": "accepted", "accepted_by": user.get_username()}},
    )  # fmt: skip
    if created:
        audit_record(
            event_type="membership", action="create", user=user, request=request, workspace=workspace,
            resource=membership,
            details={"member_id": user.pk, "member": user.get_username(), "invitation_id": str(invitation.pk),
                     "before": None, "after": {"role": membership.role}},
        )  # fmt: skip
    return membership


@transaction.atomic
def invitation_accept_new_account(*, token: str, username: str, password: str, request=None):
    """Create an account for the invited email and accept with it. Returns (user, membership); the caller logs
    the user in. The password passes AUTH_PASSWORD_VALIDATORS (checked against the new user's attributes)."""
    invitation = invitation_get_by_token(token=token)
    User = get_user_model()
    username = (username or "").strip()
    errors: dict[str, list[str]] = {}
    if not username:
        errors["username"] = ["Choose a username."]
    elif User.objects.filter(**{f"{User.USERNAME_FIELD}__iexact": username}).exists():
        errors["username"] = ["This username is taken."]
    if User.objects.filter(email__iexact=invitation.email).exists():
        raise ValidationError(
            {"__all__": [f"An account with {invitation.email} already exists: log in with it to accept."]}
        )
    candidate = User(**{User.USERNAME_FIELD: username, "email": invitation.email})
    try:
        validate_password(password or "", user=candidate)
    except ValidationError as exc:
        errors["password"] = exc.messages
    if errors:
        raise ValidationError(errors)
    user = User.objects.create_user(username, email=invitation.email, password=password)
    _mark_email_verified(user)
    audit_record(
        event_type="user", action="create", user=user, request=request, workspace=invitation.workspace,
        resource=user, details={"via": "invitation", "invitation_id": str(invitation.pk),
                                "before": None, "after": {"username": username, "email": invitation.email}},
    )  # fmt: skip
    return user, invitation_accept(token=token, user=user, request=request)


def _mark_email_verified(user) -> None:
    """With django-allauth, the invited address is the account's verified primary email: opening the link
    proved it, and allauth would otherwise ask to verify it again (or refuse password resets to it)."""
    from django.apps import apps

    if not apps.is_installed("allauth.account"):
        return
    from allauth.account.models import EmailAddress

    EmailAddress.objects.update_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})
