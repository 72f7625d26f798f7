"""One place that knows how to reach Redis (broker, cache, heartbeats, throttling)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import redis
from django.conf import settings


class EmbeddedRedisConnection(redis.UnixDomainSocketConnection):
    """Starts the embedded server on first use, so it comes up on demand in any process."""

    def connect(self):
        try:
            return super().connect()
        except (redis.ConnectionError, FileNotFoundError):
            from privexbot import embedded_servers

            embedded_servers.ensure_redis(Path(settings.VAR_DIR))
            return super().connect()


def pool_options() -> dict:
    return {"connection_class": EmbeddedRedisConnection} if settings.REDIS_EMBEDDED else {}


def make_pool(url: str) -> redis.ConnectionPool:
    return redis.ConnectionPool.from_url(url, **pool_options())


@cache
def get_client() -> redis.Redis:
    return redis.Redis(connection_pool=make_pool(settings.REDIS_URL))
