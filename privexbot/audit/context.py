"""The request being served, for events recorded where no request is passed (signal receivers such as the
admin's LogEntry, services called without one): they still carry the caller's address and user agent. At the
end of the request, events whose transaction rolled back are recorded again as failed (audit/rollback.py)."""

from __future__ import annotations

import contextvars

_request: contextvars.ContextVar = contextvars.ContextVar("pxb_audit_request", default=None)


def current_request():
    return _request.get()


class AuditRequestMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from privexbot.audit.rollback import flush_rolled_back

        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            flush_rolled_back()  # events of this request whose transaction rolled back: as failed events
            _request.reset(token)
