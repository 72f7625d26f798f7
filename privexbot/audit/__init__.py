"""Audit trail: every event goes to the AuditEvent table (append-only, hash-chained) and, as one JSON line, to
AUDIT_LOG_FILE.

- `record`: `audit_record` / `save_audited`, the one way an event is written (its own database connection, so an
  event survives the caller's rollback; one advisory lock so concurrent writers never fork the chain).
- `chain`: the canonical serialization, the row hash, and `chain_verify` (`manage.py audit_verify`).
- `network`: the client address behind trusted proxies.
- `privacy`: what may stand in for content (search queries as a keyed hash).
- `lockout`: `record_lockout`, the one way a lockout is counted and audited.
- `purge`: the retention purge, the only code that may delete audit rows.
- `export`: JSON lines / CSV by time range and event type (UI, API, `manage.py audit_export`).
"""

from privexbot.audit.lockout import record_lockout
from privexbot.audit.network import client_ip
from privexbot.audit.privacy import query_fingerprint
from privexbot.audit.purge import audit_purge
from privexbot.audit.record import AuditFileHandler, audit_record, save_audited

__all__ = [
    "AuditFileHandler", "audit_purge", "audit_record", "client_ip", "query_fingerprint", "record_lockout",
    "save_audited",
]  # fmt: skip
