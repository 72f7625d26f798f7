"""Django's Redis cache with django-prometheus' cache counters (django_cache_get_total, _hits, _misses, _fail).

django-prometheus ships the same class (NativeRedisCache) in a module that also imports django-redis, which this
project does not use; this is that class without the import.
"""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django_prometheus.cache.metrics import (
    django_cache_get_fail_total,
    django_cache_get_total,
    django_cache_hits_total,
    django_cache_misses_total,
)

_BACKEND = "native_redis"  # the label django-prometheus gives this backend


class RedisCache(DjangoRedisCache):
    def get(self, key, default=None, version=None):
        django_cache_get_total.labels(backend=_BACKEND).inc()
        try:
            result = super().get(key, default=None, version=version)
        except Exception:
            django_cache_get_fail_total.labels(backend=_BACKEND).inc()
            raise
        if result is not None:
            django_cache_hits_total.labels(backend=_BACKEND).inc()
            return result
        django_cache_misses_total.labels(backend=_BACKEND).inc()
        return default
