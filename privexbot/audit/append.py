"""Appending one event to the hash chain in one database round trip (the function of migration
0005_audit_append_function): lock the chain, read its head, draw the id, hash, insert — one statement, so the
chain lock is held for that statement and its commit only, and a request pays one round trip for its event.

Durability: on the audit connection (autocommit) the statement is its own transaction; `append` returns only
after PostgreSQL has committed it (synchronous_commit, the default), and the caller answers its request after
that. So an answered request always has its event on disk: if the web process dies before the commit, the
statement's transaction is rolled back with its connection and the request was never answered; if PostgreSQL
dies before the commit, the call raises and the request fails (500) instead of answering without its event."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from django.conf import settings
from django.db import connections

from privexbot.audit.chain import HASHED_FIELDS, _canonical_value

CHAIN_LOCK = 0x70786241  # pg_advisory_xact_lock key of the audit chain ("pxbA"); the purge takes it too
ASSIGNED = ("id", "prev_hash", "row_hash")  # columns the database function fills


def _dumps(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_parts(values: dict) -> tuple[str, str]:
    """(head, tail) with head + str(id) + tail == chain.canonical(values with that id): the canonical form of
    an event whose id is not drawn yet. Keys are sorted as json.dumps(sort_keys=True) sorts them."""
    payload = {name: _canonical_value(name, values[name]) for name in HASHED_FIELDS if name != "id"}
    pairs = sorted((key, f"{_dumps(key)}:{_dumps(value)}") for key, value in payload.items())
    before = [pair for key, pair in pairs if key < "id"]
    after = [pair for key, pair in pairs if key > "id"]
    head = "{" + "".join(f"{pair}," for pair in before) + '"id":'
    tail = "".join(f",{pair}" for pair in after) + "}"
    return head, tail


def _column_value(value):
    if isinstance(value, datetime):
        return value.isoformat()  # full microseconds: the hash was computed from them
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def append(event) -> None:
    """Insert `event` (an unsaved AuditEvent) at the end of the chain; sets its id, prev_hash and row_hash."""
    alias = settings.AUDIT_DB_ALIAS
    head, tail = canonical_parts({name: getattr(event, name) for name in HASHED_FIELDS if name != "id"})
    fields = {
        field.column: _column_value(getattr(event, field.attname))
        for field in type(event)._meta.concrete_fields
        if field.column not in ASSIGNED
    }
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT new_id, new_prev_hash, new_row_hash FROM privexbot_audit_append(%s, %s, %s, %s::jsonb)",
            [CHAIN_LOCK, head, tail, json.dumps(fields, ensure_ascii=False)],
        )
        event.id, event.prev_hash, event.row_hash = cursor.fetchone()
    event._state.adding, event._state.db = False, alias
