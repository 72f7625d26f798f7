"""Audit helpers for the API layer: the read events (documents, chunks, search) and writes that failed.

Successful writes are recorded by the services themselves; this adds what only the request knows.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS

from privexbot.audit import audit_record

# Statuses of a refused write that are worth a row; 429 is left out so a flood cannot fill the table.
AUDITED_FAILURES = {400, 401, 403, 404, 405, 409, 413, 415, 500}


def audit_read(*, request, action: str, kb, resource=None, details: dict | None = None):
    """One event per API read of document content or metadata (document, chunk list, search)."""
    return audit_record(
        event_type="document_access",
        action=action,
        request=request,
        workspace=kb.workspace,
        resource=resource if resource is not None else kb,
        details={"kb_id": str(kb.pk), **(details or {})},
    )


def audit_failed_write(*, request, view, status_code: int, error) -> None:
    if request.method in SAFE_METHODS or status_code not in AUDITED_FAILURES:
        return
    match = getattr(request, "resolver_match", None)
    audit_record(
        event_type="api_request",
        action=f"{request.method} {match.view_name if match else type(view).__name__}",
        request=request,
        success=False,
        details={
            "path": request.path[:500],
            "status": status_code,
            "code": getattr(error, "code", None) or getattr(error, "default_code", ""),
            "kwargs": {k: str(v) for k, v in (match.kwargs if match else {}).items()},
        },
    )
