"""Per-tenant concurrency slots in Redis: at most N holders of one (kind, owner) at a time, installation-wide.

Used for fairness (issue 15): one workspace's hostile or simply huge uploads may hold at most
PARSE_SLOTS_PER_WORKSPACE parse slots, so every other workspace's documents still find a free worker thread.
A task that finds its workspace's slots taken does not wait inside the worker (that would hold the thread it
is protecting): the actor sends its message again after a short delay and the thread takes other work.

A slot is a member of a sorted set scored by its lease expiry. A holder renews the lease while it runs (the
heartbeat thread of a long parse); a holder that was killed stops renewing and its slot frees itself when the
lease runs out, so a crashed worker can never leave a workspace blocked for good. Acquire, renew and release
are single Lua scripts: check-and-take is atomic across every worker machine.
"""

from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

from privexbot.redis import get_client

KEY_PREFIX = "pxb:slots"

# KEYS[1] the set; ARGV: now, lease expiry, limit, token. Drops expired leases, then takes a slot if one is free.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil((tonumber(ARGV[2]) - tonumber(ARGV[1])) * 1000) + 1000)
  return 1
end
return 0
"""
# Renews only a lease still held (XX): a holder whose lease expired and was reused must not take it back.
_RENEW = """
local renewed = redis.call('ZADD', KEYS[1], 'XX', 'CH', ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3]) * 1000) + 1000)
return renewed
"""


@dataclass
class Slot:
    key: str
    token: str
    lease_seconds: float

    def renew(self) -> bool:
        """Extend the lease; False when it had already expired (the slot may belong to someone else now)."""
        expiry = time.time() + self.lease_seconds
        return bool(get_client().eval(_RENEW, 1, self.key, expiry, self.token, self.lease_seconds))

    def release(self) -> None:
        get_client().zrem(self.key, self.token)


def slot_key(kind: str, owner) -> str:
    return f"{KEY_PREFIX}:{kind}:{owner}"


def slot_acquire(*, kind: str, owner, limit: int, lease_seconds: float) -> Slot | None:
    """A slot of (kind, owner) when fewer than `limit` are held, else None. limit 0 means no limit."""
    key, token = slot_key(kind, owner), uuid.uuid4().hex
    if limit <= 0:
        return Slot(key, token, lease_seconds)  # unlimited: nothing is recorded, release is a no-op
    now = time.time()
    taken = get_client().eval(_ACQUIRE, 1, key, now, now + lease_seconds, limit, token)
    return Slot(key, token, lease_seconds) if taken else None


def slots_held(*, kind: str, owner) -> int:
    client, key = get_client(), slot_key(kind, owner)
    client.zremrangebyscore(key, "-inf", time.time())
    return client.zcard(key)


class SlotsBusy(Exception):
    """Every slot of the owner is taken: try again later (the caller's message is sent again after a delay)."""


@contextmanager
def slot_held(*, kind: str, owner, limit: int, lease_seconds: float):
    """Hold one slot for the body; raises SlotsBusy when none is free."""
    slot = slot_acquire(kind=kind, owner=owner, limit=limit, lease_seconds=lease_seconds)
    if slot is None:
        raise SlotsBusy(f"{kind} slots of {owner} are all taken")
    try:
        yield slot
    finally:
        slot.release()


PARSE = "parse"
PARSE_LEASE_SECONDS = 30.0  # renewed every 10 s while the parse runs; a killed worker's slot frees within 30 s


@contextmanager
def parse_slot(workspace_id):
    """One of the workspace's PARSE_SLOTS_PER_WORKSPACE parse slots for the body, renewed while it runs;
    raises SlotsBusy when the workspace already parses that many files."""
    from django.conf import settings

    from privexbot.heartbeat import keep_alive

    limit = settings.PARSE_SLOTS_PER_WORKSPACE
    with slot_held(kind=PARSE, owner=workspace_id, limit=limit, lease_seconds=PARSE_LEASE_SECONDS) as slot:
        if limit <= 0:
            yield slot
            return
        with keep_alive(slot.renew, interval=PARSE_LEASE_SECONDS / 3, name="parse-slot"):
            yield slot


def slot_retry_delay_ms() -> int:
    """When a busy workspace's message comes back: soon, with jitter so waiting messages do not move in step."""
    import random

    from django.conf import settings

    return int(settings.PARSE_SLOT_RETRY_MS * random.uniform(0.75, 1.25))
