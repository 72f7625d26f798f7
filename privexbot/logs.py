"""Structured logs: the ids of the work a log line belongs to, and the JSON formatter (LOG_FORMAT=json).

Ids live in context variables, so each thread (gunicorn, Dramatiq worker threads) and each asyncio task
sees only its own. They are bound where they become known — the request middleware and the token
authentication (request id, user id), the access funnel (workspace, KB, draft), the task bodies
(document, source) — and `ContextFilter` copies them onto every record the console handler writes.

Only ids are ever bound: never names, document text or anything a user typed, so no log field carries
content. This module is imported by the logging configuration while Django starts, so it imports neither
Django settings nor models.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import re

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

# Every id a log line may carry, in the order the JSON formatter writes them.
FIELDS = ("request_id", "user_id", "workspace_id", "kb_id", "document_id", "draft_id", "source_id")
_VARS: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"pxb_log_{name}", default=None) for name in FIELDS
}

# A request id that came from outside (a header, a message): short and of a plain charset, so a client
# cannot put newlines, quotes or megabytes into every log line of its request.
_SANE_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def sane_token(value) -> str | None:
    """`value` when it is a usable external request id, else None."""
    return value if isinstance(value, str) and _SANE_TOKEN.fullmatch(value) else None


class bind:  # noqa: N801 - used like a function: `bind(kb_id=...)` or `with bind(document_id=...):`
    """Bind ids (None unbinds one). Called plainly, they stay bound for the rest of the current context
    (the request or the message; `clear()` ends it). Used as a context manager, leaving the block
    restores *every* id to what it was on entry, including ids bound plainly inside the block."""

    def __init__(self, **ids):
        unknown = set(ids) - set(FIELDS)
        if unknown:
            raise TypeError(f"unknown log ids: {sorted(unknown)}")
        self._saved = current()
        for name, value in ids.items():
            _VARS[name].set(None if value is None else str(value))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for name, value in self._saved.items():
            _VARS[name].set(value)
        return False


def log_scope(func):
    """Run `func` in its own scope: whatever it binds is undone when it returns (task bodies)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with bind():
            return func(*args, **kwargs)

    return wrapper


def current() -> dict[str, str | None]:
    return {name: var.get() for name, var in _VARS.items()}


def clear() -> None:
    """Unbind everything: at the start and end of each request and message, so no id outlives its work
    on a thread that is reused."""
    for var in _VARS.values():
        var.set(None)


class ContextFilter(logging.Filter):
    """Puts the bound ids on every record (None when unknown), for the JSON formatter or a plain format."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _VARS.items():
            if not hasattr(record, name):  # an explicit `extra=` wins
                setattr(record, name, var.get())
        return True


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: timestamp, level, logger, message, the ids (null when unknown), and
    exc_info when there is a traceback. Extras that Django attaches to some records are dropped: `request`
    (an object, not data) and the SQL `params` of DEBUG query logs (the message already has the query)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("fmt", ["levelname", "name", "message", *FIELDS])
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", True)
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "request", "params", "sql"])
        super().__init__(*args, **kwargs)
