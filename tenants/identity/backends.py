"""The lockout backend, first in AUTHENTICATION_BACKENDS."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend


class LockoutBackend(AxesStandaloneBackend):
    """axes' standalone backend, except that a call without a request is let through to the next backend.

    Every door that takes a password over HTTP (the allauth login, which the admin uses too) passes its
    request, so lockout applies there. A call without one comes from code that already runs inside the
    server — the test client's `login()`, a shell — where axes would only raise instead of checking.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
