"""What a session remembers about its login, and the checks that end it.

Two stamps in the session (epoch seconds): when the user logged in (AUTH_AT, set on every login, the test
client's force_login included) and when it was last used (SEEN_AT). A session ends when it is older than
SESSION_COOKIE_AGE (absolute: the stamp does not slide, unlike Django's own expiry, which every save extends),
idle longer than SESSION_IDLE_TIMEOUT, or began before the user's `sessions_valid_after` (sign out everywhere,
an MFA reset).
"""

from __future__ import annotations

import time

from django.conf import settings

AUTH_AT = "pxb_auth_at"
SEEN_AT = "pxb_seen_at"
# SEEN_AT is rewritten at most this often, so a busy session is not saved on every request; the idle timeout
# is exact to within this many seconds.
SEEN_RESOLUTION = 60


def stamp_login(session) -> None:
    now = time.time()
    session[AUTH_AT] = now
    session[SEEN_AT] = now


def end_reason(session, *, valid_after, now: float | None = None) -> str | None:
    """Why this authenticated session must end now, or None."""
    now = time.time() if now is None else now
    auth_at = session.get(AUTH_AT)
    if auth_at is None:
        return "unstamped"  # began before these checks existed: log in again once
    if now - auth_at > settings.SESSION_COOKIE_AGE:
        return "expired"
    seen_at = session.get(SEEN_AT, auth_at)
    if now - seen_at > settings.SESSION_IDLE_TIMEOUT:
        return "idle"
    if valid_after is not None and auth_at < valid_after.timestamp():
        return "revoked"
    return None


def mark_seen(session, *, now: float | None = None) -> None:
    now = time.time() if now is None else now
    if now - session.get(SEEN_AT, 0) >= SEEN_RESOLUTION:
        session[SEEN_AT] = now
