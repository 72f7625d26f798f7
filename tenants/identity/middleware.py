"""Session policy (timeouts, sign out everywhere) and the organization's MFA requirement, for every request
that carries a logged-in session. Bearer-token requests carry none and pass untouched."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

from privexbot.audit import audit_record
from tenants.identity import sessions
from tenants.identity.selectors import security_state

_STATE = "_pxb_security_state"


def _htmx_redirect(url: str) -> HttpResponse:
    # An HTMX request would swap a redirected page into a fragment; HX-Redirect makes it a full navigation.
    response = HttpResponse(status=204)
    response["HX-Redirect"] = url
    return response


class SessionPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        if session is None or SESSION_KEY not in session:
            return self.get_response(request)
        state = security_state(user_id=session[SESSION_KEY])
        reason = sessions.end_reason(session, valid_after=state.sessions_valid_after)
        if reason is not None:
            audit_record(
                event_type="authentication",
                action="session_ended",
                request=request,
                details={"reason": reason, "user_id": str(session[SESSION_KEY])},
            )
            session.flush()
            request.user = AnonymousUser()
            if request.headers.get("HX-Request"):
                return _htmx_redirect(reverse(settings.LOGIN_URL))
            return self.get_response(request)
        sessions.mark_seen(session)
        setattr(request, _STATE, state)
        return self.get_response(request)


# Paths a member who must enrol may still reach: enrolment itself (allauth.mfa's pages, and the password
# re-check it may ask for), logging out, and what serves no tenant data.
_OPEN_PREFIXES = ("/accounts/2fa/", "/accounts/reauthenticate/", "/accounts/logout/", "/logout/")
_OPEN_EXACT = ("/health", "/metrics")


class MfaRequiredMiddleware:
    """A member of any organization that requires MFA and who has no second factor reaches only the
    enrolment pages (and logout, static files, health); every other page and the admin redirect there, and
    the API (with this session) answers 403. API requests with a bearer token are not affected: a token is a
    factor of its own, created by someone who passed the login (and its MFA, once enrolled)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        state = getattr(request, _STATE, None)
        if state is None or not state.must_enrol or self._open(request):
            return self.get_response(request)
        enrol = reverse("mfa_activate_totp")
        if request.path.startswith("/api/"):
            message = "Your organization requires two-factor authentication: set it up in the browser first."
            return JsonResponse({"error": {"code": "mfa_required", "message": message, "details": {}}}, status=403)
        if request.headers.get("HX-Request"):
            return _htmx_redirect(enrol)
        return redirect(enrol)

    @staticmethod
    def _open(request) -> bool:
        path = request.path
        if path.startswith("/api/") and request.headers.get("Authorization", "").lower().startswith("bearer "):
            # DRF authenticates this request by its token alone (never falling back to the session), so the
            # header cannot be used to smuggle the session past this check; on pages it would be ignored.
            return True
        return path.startswith((_static_prefix(), *_OPEN_PREFIXES)) or path in _OPEN_EXACT


def _static_prefix() -> str:
    return "/" + settings.STATIC_URL.lstrip("/")
