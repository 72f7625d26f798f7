"""Rate limits kept in Redis: fixed windows counted with INCR, so every web process shares one count.

Scopes and rates come from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] ("120/min"; read per request, so tests
and settings overrides apply at once). `user` counts per authenticated user, `ip` per client address (every
request), `heavy` per user-or-address for expensive endpoints (uploads, previews, search). When Redis cannot be
reached the request is allowed: throttling must not turn a Redis hiccup into an outage.
"""

from __future__ import annotations

import logging
import math
import time

import redis
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from privexbot.redis import get_client

logger = logging.getLogger(__name__)
PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
KEY_PREFIX = "pxb:throttle"


def parse_rate(rate: str) -> tuple[int, int]:
    """'120/min' -> (120, 60). Raises ValueError on anything else."""
    count, _, period = rate.partition("/")
    if not count.strip().isdigit() or not period or period.strip()[0] not in PERIODS:
        raise ValueError(f"rate must look like '120/min', got {rate!r}")
    return int(count), PERIODS[period.strip()[0]]


class RedisRateThrottle(BaseThrottle):
    scope = ""

    def ident(self, request) -> str | None:
        raise NotImplementedError

    def window(self, request, now: float) -> tuple[str, int, int, int] | None:
        """(key, limit, period, window number) of this request's count, or None when it is not counted."""
        self._wait = None
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        ident = self.ident(request)
        if not rate or ident is None:
            return None
        limit, period = parse_rate(rate)
        window = int(now // period)
        return f"{KEY_PREFIX}:{self.scope}:{ident}:{window}", limit, period, window

    def decide(self, count: int, limit: int, period: int, window: int, now: float) -> bool:
        if count <= limit:
            return True
        self._wait = max(1, math.ceil((window + 1) * period - now))
        return False

    def allow_request(self, request, view) -> bool:
        return throttle_waits([self], request, view) == []

    def wait(self):
        return self._wait


def throttle_waits(throttles, request, view) -> list:
    """DRF's throttle check, with the counts of every Redis throttle in one round trip (one pipeline of
    INCR + EXPIRE per throttle) instead of one per throttle: returns the wait of each throttle that refuses
    (DRF's `wait()`, possibly None), [] when the request is allowed. Every throttle counts the request, as in
    DRF (no short-circuit)."""
    now = time.time()
    counted, waits = [], []
    for throttle in throttles:
        if isinstance(throttle, RedisRateThrottle):
            if (plan := throttle.window(request, now)) is not None:
                counted.append((throttle, plan))
        elif not throttle.allow_request(request, view):
            waits.append(throttle.wait())
    if not counted:
        return waits
    try:
        pipe = get_client().pipeline(transaction=False)
        for _, (key, _limit, period, _window) in counted:
            pipe.incr(key)
            pipe.expire(key, period + 1)
        replies = pipe.execute()
    except redis.RedisError:
        logger.warning("throttles %s: Redis unavailable, request allowed", ",".join(t.scope for t, _ in counted))
        return waits
    for index, (throttle, (_key, limit, period, window)) in enumerate(counted):
        if not throttle.decide(replies[2 * index], limit, period, window, now):
            waits.append(throttle.wait())
    return waits


class UserRateThrottle(RedisRateThrottle):
    scope = "user"

    def ident(self, request):
        user = getattr(request, "user", None)
        return str(user.pk) if user is not None and user.is_authenticated else None


class IPRateThrottle(RedisRateThrottle):
    scope = "ip"

    def ident(self, request):
        # NUM_PROXIES (API_NUM_PROXIES) decides whether X-Forwarded-For is trusted; 0 = REMOTE_ADDR only.
        return self.get_ident(request) or "unknown"


class HeavyRateThrottle(RedisRateThrottle):
    scope = "heavy"

    def ident(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return f"u{user.pk}"
        return f"ip{self.get_ident(request)}"


class HeavyThrottled:
    """View mixin: adds the `heavy` scope to the default throttles."""

    def get_throttles(self):
        return [*super().get_throttles(), HeavyRateThrottle()]
