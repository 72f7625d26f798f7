"""Errors every layer may raise and every door knows how to show.

A service raises a ServiceError when a request cannot be served for a reason the caller can act on; the
API turns it into the shared error shape with `http_status`, the HTML views show `message`, commands print
it. Lower layers define their own subclasses (kb.pipeline.types.PipelineError, kb.search.SearchError)
so this module never imports upward.
"""

from __future__ import annotations


class ServiceError(Exception):
    """code: short machine-readable reason; message: safe to show; details: {field: [messages]}."""

    http_status = 400

    def __init__(self, code: str, message: str, *, details: dict | None = None, http_status: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
        if http_status is not None:
            self.http_status = http_status


class Conflict(ServiceError):
    """The request conflicts with the current state of the resource (e.g. reprocessing a document that a
    worker is processing right now). Retrying later can succeed."""

    http_status = 409

    def __init__(self, message: str, *, code: str = "conflict", details: dict | None = None):
        super().__init__(code, message, details=details)
