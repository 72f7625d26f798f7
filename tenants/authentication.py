"""Bearer-token authentication (with the per-address lockout) and the scope permission of every API view."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions
from rest_framework.throttling import BaseThrottle

from privexbot.api import lockout
from privexbot.api.scopes import required_scope
from privexbot.audit import audit_record, record_lockout
from privexbot.logs import bind
from privexbot.metrics.definitions import AUTH_FAILURES
from tenants.models import ApiToken, Scope
from tenants.tokens import effective_scope, hash_token, mark_user_with_token, scope_allows

CHANNEL = "api_token"


class LockedOut(exceptions.Throttled):
    default_detail = "Too many failed API token attempts from your address."
    default_code = "locked_out"

    def __init__(self, wait: int):
        super().__init__(wait=wait)  # DRF adds "Expected available in N seconds."; Retry-After says the same


def _client_address(request) -> str:
    # The throttles' rule (API_NUM_PROXIES decides whether X-Forwarded-For is trusted).
    return BaseThrottle().get_ident(request) or "unknown"


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>`; expired or revoked tokens and inactive users are rejected. After
    API_TOKEN_FAILURE_LIMIT rejections within API_TOKEN_FAILURE_WINDOW seconds from one address, every
    bearer attempt from it is a 429 until the window passes."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        address = _client_address(request)
        if (wait := lockout.locked_for(channel=CHANNEL, ident=address)) is not None:
            raise LockedOut(wait)
        try:
            return self._authenticate(request, header)
        except exceptions.AuthenticationFailed as exc:
            AUTH_FAILURES.labels(channel=CHANNEL).inc()
            # One row per rejected token (never the token itself); the lockout below bounds how many an
            # address can cause per window.
            audit_record(
                event_type="auth", action="token_failed", request=request._request, success=False,
                details={"channel": CHANNEL, "reason": str(exc.detail)[:100]},
            )  # fmt: skip
            self._count_failure(request, address)
            raise

    def _count_failure(self, request, address: str) -> None:
        limit, window = settings.API_TOKEN_FAILURE_LIMIT, settings.API_TOKEN_FAILURE_WINDOW
        failures, locked = lockout.record_failure(channel=CHANNEL, ident=address, limit=limit, window=window)
        if locked:
            record_lockout(
                channel=CHANNEL, request=request._request,
                details={"address": address, "failures": failures, "window_seconds": window, "locked_seconds": window},
            )  # fmt: skip

    def _authenticate(self, request, header):
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        try:
            token = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        row = ApiToken.objects.select_related("user").filter(token_hash=hash_token(token)).first()
        now = timezone.now()
        if row is None or row.revoked_at is not None or (row.expires_at and row.expires_at <= now):
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        if not row.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive.")
        if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
        mark_user_with_token(row.user, row)  # the access funnel applies the key's KB limit from here
        bind(user_id=row.user_id)  # the request middleware ran before the view authenticated the token
        return row.user, row

    def authenticate_header(self, request):
        return self.keyword


class TokenScopePermission(permissions.BasePermission):
    """A request made with an API key needs the scope its route declares (privexbot.api.scopes). A browser
    session is limited by its role only. Either way the access funnel applies the role: a key never does
    more than its user may."""

    def has_permission(self, request, view):
        token = request.auth
        if not isinstance(token, ApiToken):
            return True
        needed = required_scope(view, request.method)
        if scope_allows(token.scopes, needed):
            if needed == Scope.ADMIN and token.kb_ids and not getattr(view, "kb_limited_keys_allowed", False):
                # A key limited to some KBs is a chatbot's key: it never manages workspaces, members or invitations.
                self.message = (
                    "This API key is limited to some knowledge bases; managing workspaces needs an unlimited key."
                )
                return False
            return True
        self.message = (
            f"This API key has the '{effective_scope(token.scopes)}' scope; this route needs the '{needed}' scope."
        )
        return False
