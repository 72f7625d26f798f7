"""Events recorded inside a business transaction that then rolls back. The event itself is already committed
(on the audit connection), so it is never lost; but it said what the caller was doing, not that it happened.
Each such event is remembered until its transaction commits (an on_commit callback forgets it); whatever is
still remembered when the request ends (or at the next event recorded outside any transaction) gets a second,
failed event naming it: `<action>` with success=False and details.rolled_back_event = its id.

A savepoint that rolls back inside a transaction that commits drops its on_commit callbacks too, so work
undone by an inner `atomic` is reported the same way."""

from __future__ import annotations

import threading

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction

_state = threading.local()  # per thread, like the database connections


def _pending() -> dict:
    if not hasattr(_state, "events"):
        _state.events = {}
    return _state.events


def watch(event) -> None:
    """Called for each event just recorded: if the business connection is inside a transaction, remember the
    event until that transaction commits."""
    if settings.AUDIT_DB_ALIAS == DEFAULT_DB_ALIAS:  # the event shares the caller's transaction (tests)
        return
    if not connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return
    pending = _pending()
    pending[event.id] = event
    transaction.on_commit(lambda: pending.pop(event.id, None), using=DEFAULT_DB_ALIAS)


def flush_rolled_back() -> int:
    """Record a failed event for each remembered event whose transaction did not commit; returns how many.
    Nothing is flushed while a transaction is still open (its events may yet commit)."""
    from privexbot.audit.record import audit_record

    pending = _pending()
    if not pending or connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return 0
    events = list(pending.values())
    pending.clear()
    for event in events:
        audit_record(
            event_type=event.event_type, action=event.action,
            user=_Actor(event.user_id, event.username) if event.user_id else None,
            organization=event.organization_id, workspace=event.workspace_id, resource=event.resource_id or None,
            resource_type=event.resource_type, success=False,
            details={"rolled_back_event": event.id, "reason": "the business transaction rolled back"},
        )  # fmt: skip
    return len(events)


class _Actor:
    """Stands in for the user of the original event (who may be gone by now): only pk and username are read."""

    is_authenticated = True

    def __init__(self, pk, username: str):
        self.pk, self.username = pk, username
