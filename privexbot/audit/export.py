"""Audit export: the guide's log format (11 fields) plus the row's id and chain hashes, as JSON lines or CSV,
filtered by time range and event type. Used by the workspace page, the API and `manage.py audit_export`;
each caller scopes the queryset first (a workspace, or the whole installation for staff/commands)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder

FORMATS = ("jsonl", "csv")
COLUMNS = (
    "id", "timestamp", "event_type", "user_id", "username", "organization_id", "workspace_id", "resource_type",
    "resource_id", "action", "ip_address", "user_agent", "success", "details", "prev_hash", "row_hash",
)  # fmt: skip
CONTENT_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}


def audit_events(
    *,
    workspace_id=None,
    start: datetime | None = None,
    end: datetime | None = None,
    event_types: Iterable[str] = (),
):
    """Events in [start, end), oldest first; `workspace_id` limits them to one workspace."""
    from privexbot.models import AuditEvent

    events = AuditEvent.objects.order_by("id")
    if workspace_id is not None:
        events = events.filter(workspace_id=workspace_id)
    if start is not None:
        events = events.filter(timestamp__gte=start)
    if end is not None:
        events = events.filter(timestamp__lt=end)
    event_types = [t for t in event_types if t]
    if event_types:
        events = events.filter(event_type__in=event_types)
    return events


def _record(values: dict) -> dict:
    values = dict(values)
    values["timestamp"] = values["timestamp"].isoformat()
    for name in ("organization_id", "workspace_id"):
        values[name] = str(values[name]) if values[name] else None
    return values


def export_lines(events, fmt: str) -> Iterator[str]:
    """The export as text pieces, streamed (a large range never sits in memory). An erased user's rows show
    their pseudonym (privexbot.audit.pseudonyms): the stored row, and the hash it was chained with, keep the
    username recorded then, so `row_hash` checks against the database (audit_verify), not against this text."""
    from privexbot.audit.pseudonyms import Redactions, erased_users, shown_row

    if fmt not in FORMATS:
        raise ValueError(f"unknown audit export format {fmt!r}: one of {', '.join(FORMATS)}")
    names = dict(erased_users().values_list("pk", "username"))  # the tombstones: a few rows, read once
    redactions = Redactions()
    rows = (shown_row(values, names, redactions) for values in events.values(*COLUMNS).iterator(chunk_size=2000))
    if fmt == "jsonl":
        for values in rows:
            yield json.dumps(_record(values), cls=DjangoJSONEncoder, sort_keys=True) + "\n"
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    yield _drain(buffer)
    for values in rows:
        values = _record(values)
        values["details"] = json.dumps(values["details"], sort_keys=True)
        writer.writerow([values[name] for name in COLUMNS])
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
