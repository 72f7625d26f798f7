"""Concurrent users: distinct authenticated users seen in the last METRICS_ACTIVE_USERS_WINDOW seconds.

Every process of every machine writes into one Redis sorted set (member: user id, score: last seen), so the
figure is installation-wide. A process writes a given user at most once a minute (remembered in memory), so
a busy user costs one Redis round trip per minute per process, not one per request.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings

log = logging.getLogger(__name__)
REWRITE_AFTER = 60.0  # seconds: well under the window, so a user active the whole time never drops out
_MEMORY_LIMIT = 10_000  # users remembered per process before the memory is cleared

_last_written: dict[int, float] = {}
_lock = threading.Lock()


def key() -> str:
    # The cache prefix separates installations (and test sessions) that share one Redis.
    return f"{settings.CACHES['default'].get('KEY_PREFIX', 'pxb')}:metrics:active_users"


def seen(user_id: int) -> None:
    now = time.monotonic()
    with _lock:
        if now - _last_written.get(user_id, -REWRITE_AFTER) < REWRITE_AFTER:
            return
        if len(_last_written) >= _MEMORY_LIMIT:
            _last_written.clear()
        _last_written[user_id] = now
    from privexbot.redis import get_client

    try:
        get_client().zadd(key(), {str(user_id): time.time()})
    except Exception:  # a Redis outage must not fail the request; the figure is only a gauge
        log.debug("could not record an active user", exc_info=True)
        with _lock:
            _last_written.pop(user_id, None)


def count() -> int:
    """Users seen within the window; older entries are dropped on the way."""
    from privexbot.redis import get_client

    client = get_client()
    cutoff = time.time() - settings.METRICS_ACTIVE_USERS_WINDOW
    pipe = client.pipeline()
    pipe.zremrangebyscore(key(), "-inf", cutoff)
    pipe.zcard(key())
    return int(pipe.execute()[1])
