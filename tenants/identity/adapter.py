"""allauth's account adapter: closed sign-up; the per-IP login throttle explained, audited and counted."""

from __future__ import annotations

import math

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.internal import ratelimit
from django.conf import settings
from django.core.cache import cache
from django.forms import ValidationError

from privexbot.audit import record_lockout

# A view that accepts an invitation puts the invitation's id here before it shows allauth's sign-up form;
# without it sign-up is closed (accounts come from invitations and `manage.py bootstrap`).
INVITATION_SESSION_KEY = "pxb_invitation_id"


def _ip_rate() -> str:
    return f"{settings.LOGIN_IP_FAILURE_LIMIT}/{settings.LOGIN_IP_FAILURE_WINDOW}s/ip"


class AccountAdapter(DefaultAccountAdapter):
    def __init__(self, request=None):
        super().__init__(request)
        minutes = max(1, math.ceil(settings.LOGIN_IP_FAILURE_WINDOW / 60))
        self.error_messages = {
            **self.error_messages,
            "too_many_login_attempts": f"Too many failed login attempts. Try again in {minutes} minutes.",
        }

    def is_open_for_signup(self, request) -> bool:
        session = getattr(request, "session", None)
        return bool(session is not None and session.get(INVITATION_SESSION_KEY))

    def pre_authenticate(self, request, **credentials):
        try:
            super().pre_authenticate(request, **credentials)
        except ValidationError:
            if _ip_exhausted(request):
                _record_ip_throttle(request, username=str(credentials.get("username", ""))[:150])
            raise


def _ip_exhausted(request) -> bool:
    """Whether the per-IP part of ACCOUNT_RATE_LIMITS["login_failed"] refused (not the per-account part,
    which only trips after axes has locked the account and recorded that)."""
    usage = ratelimit.consume(
        request,
        app="allauth.account",
        action="login_failed",
        config={"login_failed": _ip_rate()},
        dry_run=True,
    )
    return usage is None


def _record_ip_throttle(request, *, username: str) -> None:
    """Audit and count a throttled address once per window, not once per refused attempt (a flood would
    otherwise write a flood of events)."""
    ip = request.META.get("REMOTE_ADDR", "")
    if not cache.add(f"identity:ip-throttle-recorded:{ip}", 1, timeout=settings.LOGIN_IP_FAILURE_WINDOW):
        return
    record_lockout(
        channel="login_ip",
        request=request,
        details={"username": username, "ip": ip, "scope": "ip", "window_seconds": settings.LOGIN_IP_FAILURE_WINDOW},
    )
