"""Dramatiq's Redis broker on our connection pool (which starts the embedded server on demand)."""

from dramatiq.brokers.redis import RedisBroker as _RedisBroker

from privexbot.redis import make_pool


class RedisBroker(_RedisBroker):
    def __init__(self, *, url: str, **options):
        super().__init__(connection_pool=make_pool(url), **options)
