"""API tokens: the rules of what a key may be (scopes, KB limits, lifetime) and of what a key may create.

Every door (the API, the key page, the admin, the command) creates, rotates and revokes through these
functions, so the rules hold everywhere:

- a key has one or more scopes; the highest counts (search < read < write < admin);
- it may be limited to some knowledge bases (empty: every KB its user may reach);
- it lives at most API_TOKEN_MAX_DAYS (the default too); "never expires" only when
  API_TOKEN_ALLOW_NEVER_EXPIRES is on;
- a key that creates or rotates a key through the API (`by_token`) only gets keys inside itself: no wider
  scope, a subset of its KBs (a KB-limited key only makes KB-limited keys), expiring no later than itself;
- revoking a key revokes every key it created, so a leaked key cannot leave children behind.

The KB list of a key is checked against the KBs its user may read. `tenants` sits below `kb`, so the KB
app registers that reader at start-up (`register_kb_reader`, from kb.apps) instead of being imported here.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from privexbot.audit import audit_record
from privexbot.errors import ServiceError
from tenants.models import SCOPE_ORDER, ApiToken, Scope

TOKEN_PREFIX = "pxb_"  # noqa: S105  (a public prefix, not a secret)
# The attribute the bearer authentication sets on the request's user: the KB ids its key is limited to.
KB_LIMIT_ATTR = "_api_token_kb_ids"

_kb_reader: Callable | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ---------------------------------------------------------------- scopes and limits
def scope_rank(scope: str) -> int:
    return SCOPE_ORDER.index(Scope(scope))


def effective_scope(scopes: Iterable[str]) -> str:
    """The highest of a key's scopes (it includes the lower ones)."""
    return str(max((Scope(s) for s in scopes), key=scope_rank, default=Scope.SEARCH).value)


def scope_allows(scopes: Iterable[str], needed: str) -> bool:
    return scope_rank(effective_scope(scopes)) >= scope_rank(needed)


def kb_limit_of(user) -> frozenset[uuid.UUID] | None:
    """The KB ids this request's key is limited to, or None (a session, or a key without a KB limit)."""
    return getattr(user, KB_LIMIT_ATTR, None)


def mark_user_with_token(user, token: ApiToken) -> None:
    """Called by the bearer authentication: the access funnel reads the key's KB limit from the user."""
    setattr(user, KB_LIMIT_ATTR, frozenset(token.kb_ids) if token.kb_ids else None)


def require_unlimited_key(user, *, doing: str) -> None:
    """A KB-limited key works only on its KBs: it cannot make new ones (they would be outside its list)."""
    if kb_limit_of(user) is not None:
        raise PermissionDenied(f"this API key is limited to some knowledge bases and cannot {doing}")


def register_kb_reader(reader: Callable) -> None:
    """reader(user) -> [(kb_id, label)] of the KBs the user may read, through kb's access funnel."""
    global _kb_reader
    _kb_reader = reader


def readable_kb_choices(user) -> list[tuple[uuid.UUID, str]]:
    if _kb_reader is None:
        raise ImproperlyConfigured("no KB reader registered (kb.apps registers it at start-up)")
    return list(_kb_reader(user))


def token_within(token: ApiToken, parent: ApiToken) -> bool:
    """Whether `token` is no wider, reaches no more KBs and lives no longer than `parent`."""
    if scope_rank(effective_scope(token.scopes)) > scope_rank(effective_scope(parent.scopes)):
        return False
    if parent.kb_ids and (not token.kb_ids or not set(token.kb_ids) <= set(parent.kb_ids)):
        return False
    return parent.expires_at is None or (token.expires_at is not None and token.expires_at <= parent.expires_at)


def tokens_manageable(*, user, by_token: ApiToken | None = None):
    """The keys a caller may list, revoke and rotate: a session all of the user's; a key itself and the keys
    inside it (a narrow key must not touch, or even see, a wider one)."""
    tokens = ApiToken.objects.filter(user=user)
    if by_token is None:
        return tokens
    inside = [t.pk for t in tokens if t.pk == by_token.pk or token_within(t, by_token)]
    return tokens.filter(pk__in=inside)


# ---------------------------------------------------------------- the rules of a new key
def _forbidden(field: str, message: str) -> ServiceError:
    return ServiceError("forbidden", message, details={field: [message]}, http_status=403)


def _clean_scopes(scopes, parent: ApiToken | None) -> list[str]:
    if scopes is None:  # the default never exceeds the creating key
        scopes = [Scope.READ]
        if parent is not None and scope_rank(effective_scope(parent.scopes)) < scope_rank(Scope.READ):
            scopes = [effective_scope(parent.scopes)]
    scopes = list(dict.fromkeys(str(s) for s in scopes))
    unknown = [s for s in scopes if s not in Scope.values]
    if not scopes or unknown:
        message = f"choose one or more of {', '.join(Scope.values)}" + (f" (unknown: {unknown[0]})" if unknown else "")
        raise ValidationError({"scopes": [message]})
    if parent is not None and not scope_allows(parent.scopes, effective_scope(scopes)):
        raise _forbidden(
            "scopes",
            f"this API key has the '{effective_scope(parent.scopes)}' scope and cannot create a key with "
            f"'{effective_scope(scopes)}'",
        )
    return sorted(scopes, key=scope_rank)


def _clean_kb_ids(user, kb_ids, parent: ApiToken | None) -> list[uuid.UUID]:
    if kb_ids is None:
        kb_ids = list(parent.kb_ids) if parent is not None else []
    try:
        wanted = list(dict.fromkeys(uuid.UUID(str(k)) for k in kb_ids))
    except ValueError:
        raise ValidationError({"kb_ids": ["each entry must be a knowledge base id"]}) from None
    if parent is not None and parent.kb_ids:
        if not wanted:
            raise _forbidden("kb_ids", "this API key is limited to some knowledge bases: so must the keys it creates")
        if outside := [k for k in wanted if k not in set(parent.kb_ids)]:
            raise _forbidden("kb_ids", f"knowledge base {outside[0]} is outside this API key's list")
    if wanted:
        readable = {kb_id for kb_id, _ in readable_kb_choices(user)}
        if unknown := [k for k in wanted if k not in readable]:
            # The same words for another tenant's KB and one that does not exist: nothing is confirmed.
            raise ValidationError({"kb_ids": [f"knowledge base {unknown[0]} not found"]})
    return wanted


def _clean_expiry(*, now, expires_in_days, never_expires: bool, parent: ApiToken | None) -> datetime | None:
    max_days = settings.API_TOKEN_MAX_DAYS
    if never_expires:
        if expires_in_days is not None:
            raise ValidationError({"expires_in_days": ["give a lifetime or 'never expires', not both"]})
        if not settings.API_TOKEN_ALLOW_NEVER_EXPIRES:
            raise ValidationError(
                {"never_expires": ["keys that never expire are turned off (API_TOKEN_ALLOW_NEVER_EXPIRES)"]}
            )
        if parent is not None and parent.expires_at is not None:
            raise _forbidden("never_expires", "this API key expires, so the keys it creates must expire too")
        return None
    if expires_in_days is None:  # the default: the longest allowed, but never past the creating key
        expires_at = now + timedelta(days=max_days)
        return min(expires_at, parent.expires_at) if parent is not None and parent.expires_at else expires_at
    if not isinstance(expires_in_days, int) or expires_in_days < 1:
        raise ValidationError({"expires_in_days": ["must be a whole number of days, at least 1"]})
    if expires_in_days > max_days:
        raise ValidationError({"expires_in_days": [f"must be at most {max_days} days (API_TOKEN_MAX_DAYS)"]})
    expires_at = now + timedelta(days=expires_in_days)
    if parent is not None and parent.expires_at is not None and expires_at > parent.expires_at:
        # Counted in whole days, as asked: a 1-day key may make a "1 day" key, which ends when it does.
        if timedelta(days=expires_in_days - 1) >= parent.expires_at - now:
            raise _forbidden(
                "expires_in_days",
                f"this API key expires at {parent.expires_at.isoformat(timespec='seconds')}: "
                "the keys it creates must expire no later",
            )
        expires_at = parent.expires_at
    return expires_at


def _new_row(**fields) -> tuple[ApiToken, str]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken.objects.create(prefix=token[:12], token_hash=hash_token(token), **fields)
    return row, token


def _summary(row: ApiToken) -> dict:
    return {
        "name": row.name,
        "prefix": row.prefix,
        "scopes": list(row.scopes),
        "kb_ids": [str(k) for k in row.kb_ids],
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
    }


def api_token_create(
    *,
    user,
    name: str = "",
    scopes: Iterable[str] | None = None,
    kb_ids: Iterable | None = None,
    expires_in_days: int | None = None,
    never_expires: bool = False,
    by_token: ApiToken | None = None,
    request=None,
) -> tuple[ApiToken, str]:
    """Returns the token row and the plaintext token, which is never stored and cannot be shown again.
    `by_token`: the key making this one through the API; the new key must fit inside it."""
    if by_token is not None and by_token.user_id != user.pk:
        raise PermissionDenied("a key creates keys only for its own user")
    row_scopes = _clean_scopes(scopes, by_token)
    row_kbs = _clean_kb_ids(user, kb_ids, by_token)
    expires_at = _clean_expiry(
        now=timezone.now(), expires_in_days=expires_in_days, never_expires=never_expires, parent=by_token
    )
    row, token = _new_row(
        user=user, name=name, scopes=row_scopes, kb_ids=row_kbs, expires_at=expires_at, created_by_token=by_token
    )
    details = {"after": _summary(row), "created_by_token": str(by_token.pk) if by_token else None}
    audit_record(event_type="api_token", action="create", user=user, request=request, resource=row, details=details)
    return row, token


def _descendants(token: ApiToken) -> list[ApiToken]:
    found, frontier = [], [token.pk]
    while frontier:
        children = list(ApiToken.objects.filter(created_by_token_id__in=frontier, revoked_at__isnull=True))
        found += children
        frontier = [c.pk for c in children]
    return found


@transaction.atomic
def api_token_revoke(*, token: ApiToken, user=None, request=None) -> ApiToken:
    """Stop a token at once, and every token it created (and they created). Idempotent."""
    now = timezone.now()
    for row in [token, *_descendants(token)]:
        if ApiToken.objects.filter(pk=row.pk, revoked_at__isnull=True).update(revoked_at=now):
            row.revoked_at = now
            audit_record(
                event_type="api_token", action="revoke", user=user or token.user, request=request, resource=row,
                details={"name": row.name, "prefix": row.prefix,
                         "because_of": str(token.pk) if row.pk != token.pk else None,
                         "before": {"revoked_at": None}, "after": {"revoked_at": now.isoformat()}},
            )  # fmt: skip
    token.revoked_at = token.revoked_at or now
    return token


def _rotated_expiry(*, token: ApiToken, now, by_token: ApiToken | None) -> datetime | None:
    """The same lifetime as the old key, within today's rules: at most API_TOKEN_MAX_DAYS (unless keys may
    never expire) and, when a key rotates through the API, no later than that key."""
    lifetime = token.expires_at - token.created_at if token.expires_at else None
    if lifetime is None and not settings.API_TOKEN_ALLOW_NEVER_EXPIRES:
        lifetime = timedelta(days=settings.API_TOKEN_MAX_DAYS)
    if lifetime is not None:
        lifetime = min(lifetime, timedelta(days=settings.API_TOKEN_MAX_DAYS))
    expires_at = now + lifetime if lifetime is not None else None
    if by_token is not None and by_token.expires_at is not None:
        expires_at = min(expires_at, by_token.expires_at) if expires_at else by_token.expires_at
    return expires_at


@transaction.atomic
def api_token_rotate(
    *, token: ApiToken, user=None, request=None, grace_seconds: int | None = None, by_token: ApiToken | None = None
):
    """Issue a replacement with the same name, scopes, KBs and lifetime; the old token keeps working for
    `grace_seconds` (API_TOKEN_ROTATION_GRACE by default) so deployed clients can switch. A key rotating
    through the API (`by_token`, itself or a key inside it) gets a replacement that expires no later than
    itself: rotation replaces a secret, it does not extend a key's life. Returns (new row, plaintext)."""
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    now = timezone.now()
    if token.revoked_at is not None or (token.expires_at and token.expires_at <= now):
        raise ValidationError(
            {"token": [ValidationError("a revoked or expired token cannot be rotated", code="conflict")]}
        )
    if by_token is not None and token.pk != by_token.pk and not token_within(token, by_token):
        raise PermissionDenied("this API key cannot rotate a key wider than itself")
    grace = settings.API_TOKEN_ROTATION_GRACE if grace_seconds is None else grace_seconds
    new, token_text = _new_row(
        user=token.user, name=token.name, scopes=list(token.scopes), kb_ids=list(token.kb_ids),
        expires_at=_rotated_expiry(token=token, now=now, by_token=by_token),
        created_by_token=by_token if by_token is not None and by_token.pk != token.pk else token.created_by_token,
    )  # fmt: skip
    old_expiry = now + timedelta(seconds=grace)
    if token.expires_at is None or old_expiry < token.expires_at:
        token.expires_at = old_expiry
        ApiToken.objects.filter(pk=token.pk).update(expires_at=old_expiry)
    # The keys the old one created now answer to the new one (revoking the new one revokes them too).
    ApiToken.objects.filter(created_by_token=token).update(created_by_token=new)
    audit_record(
        event_type="api_token", action="rotate", user=user or token.user, request=request, resource=new,
        details={"name": token.name, "replaces": str(token.pk), "old_expires_at": token.expires_at.isoformat(),
                 "after": _summary(new)},
    )  # fmt: skip
    return new, token_text
