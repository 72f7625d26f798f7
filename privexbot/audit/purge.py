"""The retention purge: the only code that may delete audit rows. The table's trigger (migration
0003_audit_integrity) refuses UPDATE, DELETE and TRUNCATE unless the transaction has set
`privexbot.audit_purge = 'on'` (SET LOCAL: it ends with the transaction); only this function sets it.

It deletes a prefix of the chain (every row up to the last one older than the cutoff), so what remains is one
unbroken chain; its own event records the hash of the last row removed, where `audit_verify` lets the chain
start."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import connections, transaction

from privexbot.audit.chain import PURGE_EVENT
from privexbot.audit.record import CHAIN_LOCK, audit_record


def audit_purge(*, before: datetime) -> int:
    """Delete the audit events recorded before `before` (the retention job's cutoff); returns how many."""
    alias = settings.AUDIT_DB_ALIAS
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK])
        cursor.execute(
            "SELECT id, row_hash FROM privexbot_auditevent WHERE id <= "
            "(SELECT max(id) FROM privexbot_auditevent WHERE timestamp < %s) ORDER BY id DESC LIMIT 1",
            [before],
        )
        through = cursor.fetchone()
        if through is None:
            return 0
        cursor.execute("SET LOCAL privexbot.audit_purge = 'on'")
        cursor.execute("DELETE FROM privexbot_auditevent WHERE id <= %s", [through[0]])
        purged = cursor.rowcount
        # Off again at once: inside an enclosing transaction (a savepoint) SET LOCAL would outlive this block.
        cursor.execute("SET LOCAL privexbot.audit_purge = 'off'")
    audit_record(
        event_type=PURGE_EVENT[0], action=PURGE_EVENT[1],
        details={"count": purged, "before": before.isoformat(), "through_id": through[0], "through_hash": through[1]},
    )  # fmt: skip
    return purged
