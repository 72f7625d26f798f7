"""The hash chain over the audit table: each row stores the previous row's hash and
`row_hash = sha256(prev_hash || canonical(row))`, rows ordered by id. Changing a row breaks its own hash;
removing one breaks its successor's link; slipping one in leaves it outside the links of its neighbours.

The canonical form is computed by the same function from the values written and from the values read back, so
PostgreSQL's own formatting (inet, jsonb, timestamptz) never matters. `user_id` is hashed: it is a plain copy of
the user's pk (no foreign-key constraint, never nulled), so deleting the user changes nothing here.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections import deque
from dataclasses import dataclass
from datetime import UTC

GENESIS = "0" * 64
WINDOW = 10_000
PURGE_EVENT = ("audit", "purge")  # (event_type, action) of the purge's own event; it names the new chain start

# id + the 11 fields of the guide's log format + what else identifies who and what.
HASHED_FIELDS = (
    "id", "timestamp", "event_type", "user_id", "username", "organization_id", "workspace_id", "resource_type",
    "resource_id", "action", "ip_address", "user_agent", "success", "details",
)  # fmt: skip


def _canonical_value(name: str, value):
    if value is None:
        return None
    if name == "timestamp":
        return value.astimezone(UTC).isoformat()
    if name in ("organization_id", "workspace_id"):
        return str(value)
    if name == "ip_address":
        return str(ipaddress.ip_address(value))
    return value


def canonical(values: dict) -> str:
    payload = {name: _canonical_value(name, values[name]) for name in HASHED_FIELDS}
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(prev_hash: str, values: dict) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + canonical(values).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Problem:
    kind: str  # "altered" | "removed" | "inserted"
    event_id: int
    message: str


@dataclass(frozen=True)
class Verification:
    rows: int
    head_id: int | None
    head_hash: str
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems


def chain_head(using: str = "default") -> tuple[int | None, str]:
    from privexbot.models import AuditEvent

    last = AuditEvent.objects.using(using).order_by("-id").values_list("id", "row_hash").first()
    return (last[0], last[1]) if last else (None, GENESIS)


def chain_verify(*, using: str = "default", batch: int = 2000) -> Verification:
    """Walk the whole chain in id order and name every row that was altered, removed or inserted."""
    from privexbot.models import AuditEvent

    rows = AuditEvent.objects.using(using).order_by("id").values(*HASHED_FIELDS, "prev_hash", "row_hash")
    # A purge deletes a prefix and records the hash of the last row it removed: the chain may start there.
    anchors = {
        (details or {}).get("through_hash")
        for details in AuditEvent.objects.using(using)
        .filter(event_type=PURGE_EVENT[0], action=PURGE_EVENT[1])
        .values_list("details", flat=True)
    }
    anchors.add(GENESIS)
    problems: list[Problem] = []
    # The last rows walked, (id, row_hash): a link back into them marks the rows after it as inserted. Bounded,
    # so a walk over millions of rows stays small; a longer run of inserted rows is reported as "removed".
    window: deque[tuple[int, str]] = deque(maxlen=WINDOW)
    previous: dict | None = None
    count = 0
    for row in rows.iterator(chunk_size=batch):
        count += 1
        event_id = row["id"]
        if row["row_hash"] != row_hash(row["prev_hash"], row):
            problems.append(Problem("altered", event_id, f"event #{event_id} does not match its hash: altered"))
        if previous is None:
            if row["prev_hash"] not in anchors:
                problems.append(
                    Problem("removed", event_id, f"event(s) before #{event_id} were removed (the chain starts late)")
                )
        elif row["prev_hash"] != previous["row_hash"]:
            hashes = [h for _, h in window]
            if row["prev_hash"] in hashes:
                for inserted, _ in list(window)[hashes.index(row["prev_hash"]) + 1 :]:
                    problems.append(
                        Problem("inserted", inserted, f"event #{inserted} is not part of the chain: inserted")
                    )
            else:
                problems.append(
                    Problem(
                        "removed", event_id,
                        f"event(s) between #{previous['id']} and #{event_id} were removed "
                        f"(or #{previous['id']} was rewritten)",
                    )
                )  # fmt: skip
        window.append((event_id, row["row_hash"]))
        previous = row
    head_id, head_hash = (previous["id"], previous["row_hash"]) if previous else (None, GENESIS)
    return Verification(rows=count, head_id=head_id, head_hash=head_hash, problems=problems)
