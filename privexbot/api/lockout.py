"""Lockout after repeated authentication failures from one client address, counted in Redis.

A failure increments a counter that lives `window` seconds from the first failure; the failure that reaches
`limit` sets a lock for `window` seconds. While the lock stands every attempt from that address is refused,
a correct credential included: otherwise a guessing run would learn when it hit. Like the throttles, an
unreachable Redis locks nobody out (an outage of Redis must not become an outage of the API).
"""

from __future__ import annotations

import logging

import redis

from privexbot.api import throttling
from privexbot.redis import get_client

logger = logging.getLogger(__name__)


def _keys(channel: str, ident: str) -> tuple[str, str]:
    # Read the prefix at call time: tests give every run its own (tests/api/conftest.py fresh_throttles).
    base = f"{throttling.KEY_PREFIX}:lockout:{channel}:{ident}"
    return f"{base}:failures", f"{base}:locked"


def locked_for(*, channel: str, ident: str) -> int | None:
    """Seconds until the lock on `ident` ends, or None when it is not locked."""
    _, lock_key = _keys(channel, ident)
    try:
        ttl = get_client().ttl(lock_key)
    except redis.RedisError:
        logger.warning("lockout %s: Redis unavailable, not checked", channel)
        return None
    return ttl if ttl and ttl > 0 else None


def record_failure(*, channel: str, ident: str, limit: int, window: int) -> tuple[int, bool]:
    """Count one failure. Returns (failures in the window, whether this failure started a lock)."""
    failures_key, lock_key = _keys(channel, ident)
    try:
        pipe = get_client().pipeline()
        pipe.set(failures_key, 0, ex=window, nx=True)  # the window starts at the first failure
        pipe.incr(failures_key)  # INCR keeps the key's expiry
        count = pipe.execute()[1]
        if count < limit:
            return count, False
        started = bool(get_client().set(lock_key, count, ex=window, nx=True))
        if started:
            get_client().delete(failures_key)  # after the lock the count starts again
        return count, started
    except redis.RedisError:
        logger.warning("lockout %s: Redis unavailable, failure not counted", channel)
        return 0, False
