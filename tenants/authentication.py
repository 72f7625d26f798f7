from django.utils import timezone
from rest_framework import authentication, exceptions

from privexbot.logs import bind
from privexbot.metrics.definitions import AUTH_FAILURES
from tenants.models import ApiToken
from tenants.services import hash_token


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>`; expired or revoked tokens are rejected."""

    keyword = "Bearer"

    def authenticate(self, request):
        try:
            return self._authenticate(request)
        except exceptions.AuthenticationFailed:
            AUTH_FAILURES.labels(channel="api_token").inc()
            raise

    def _authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
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
        bind(user_id=row.user_id)  # the request middleware ran before the view authenticated the token
        return row.user, row

    def authenticate_header(self, request):
        return self.keyword
