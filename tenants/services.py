"""Writes for organizations, workspaces, memberships and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from privexbot.audit import audit_record
from tenants.models import ApiToken, Membership, Organization, Role, Workspace

TOKEN_PREFIX = "pxb_"  # noqa: S105  (a public prefix, not a secret)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(*, user, name: str = "", expires_in_days: int | None = None) -> tuple[ApiToken, str]:
    """Returns the token row and the plaintext token, which is never stored and cannot be shown again."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
    row = ApiToken.objects.create(
        user=user, name=name, prefix=token[:12], token_hash=hash_token(token), expires_at=expires_at
    )
    audit_record(event_type="api_token", action="create", user=user, resource=row, details={"name": name})
    return row, token


@transaction.atomic
def bootstrap(*, org_name: str, workspace_name: str, username: str, email: str, password: str | None):
    """Idempotent: creates what is missing and returns (user, workspace, created_password_or_None)."""
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    new_password = None
    if user is None:
        new_password = password or secrets.token_urlsafe(12)
        user = User.objects.create_superuser(username=username, email=email, password=new_password)
    organization = Organization.objects.filter(name=org_name).first() or Organization.objects.create(name=org_name)
    workspace = Workspace.objects.filter(organization=organization, name=workspace_name).first()
    if workspace is None:
        workspace = Workspace.objects.create(organization=organization, name=workspace_name)
    Membership.objects.get_or_create(user=user, workspace=workspace, defaults={"role": Role.OWNER})
    return user, workspace, new_password


def api_token_revoke(*, token: ApiToken, user=None, request=None) -> ApiToken:
    """Stop a token at once. Revoking a revoked token changes nothing (idempotent)."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=token.revoked_at)
        audit_record(
            event_type="api_token", action="revoke", user=user or token.user, request=request, resource=token,
            details={"name": token.name, "prefix": token.prefix},
        )  # fmt: skip
    return token


@transaction.atomic
def api_token_rotate(*, token: ApiToken, user=None, request=None, grace_seconds: int | None = None):
    """Issue a replacement with the same name and lifetime; the old token keeps working for `grace_seconds`
    (API_TOKEN_ROTATION_GRACE by default) so deployed clients can switch. Returns (new row, plaintext)."""
    from django.conf import settings
    from django.core.exceptions import ValidationError

    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    now = timezone.now()
    if token.revoked_at is not None or (token.expires_at and token.expires_at <= now):
        raise ValidationError(
            {"token": [ValidationError("a revoked or expired token cannot be rotated", code="conflict")]}
        )
    grace = settings.API_TOKEN_ROTATION_GRACE if grace_seconds is None else grace_seconds
    lifetime = token.expires_at - token.created_at if token.expires_at else None
    token_text = TOKEN_PREFIX + secrets.token_urlsafe(32)
    new = ApiToken.objects.create(
        user=token.user, name=token.name, prefix=token_text[:12], token_hash=hash_token(token_text),
        expires_at=now + lifetime if lifetime else None,
    )  # fmt: skip
    old_expiry = now + timedelta(seconds=grace)
    if token.expires_at is None or old_expiry < token.expires_at:
        token.expires_at = old_expiry
        ApiToken.objects.filter(pk=token.pk).update(expires_at=old_expiry)
    audit_record(
        event_type="api_token", action="rotate", user=user or token.user, request=request, resource=new,
        details={"name": token.name, "replaces": str(token.pk), "old_expires_at": token.expires_at.isoformat()},
    )  # fmt: skip
    return new, token_text
