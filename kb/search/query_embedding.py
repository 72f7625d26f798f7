"""Query vectors: Redis first (KB + model + sha256 of the query, EMBEDDING_CACHE_TTL), else the KB's model.

Keys are scoped by KB: `pxb:qemb:<kb id>:<model>:<sha256>`. A shared key would answer one tenant's first query
fast because another tenant asked it before (a timing leak), and a KB's deletion could not find the query
vectors its users' searches left (kb.deletion drops `pxb:qemb:<kb id>:*`).

The model loads lazily on the first miss and stays loaded for the life of the process (runtime.embedder keeps
one per model), so a web process that never searches never imports the embedding stack.
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np
from django.conf import settings

log = logging.getLogger(__name__)
KEY_PREFIX = "pxb:qemb:"


def cache_key(model: str, query: str, scope: str = "-") -> str:
    return f"{KEY_PREFIX}{scope}:{model}:{hashlib.sha256(query.encode('utf-8')).hexdigest()}"


def scope_pattern(scope) -> str:
    """The keys of one scope (a KB id), for SCAN MATCH."""
    return f"{KEY_PREFIX}{scope}:*"


def _redis():
    from privexbot.redis import get_client

    return get_client()


def embed_query(*, model: str, query: str, scope: str = "-") -> np.ndarray:
    """`scope`: the KB the query searches ("-" for tools outside any KB, the benchmarks)."""
    key = cache_key(model, query, str(scope))
    ttl = int(settings.EMBEDDING_CACHE_TTL)
    if ttl > 0:
        try:
            cached = _redis().get(key)
        except Exception:  # a cache outage must not take search down: embed instead
            log.warning("query-embedding cache unavailable", exc_info=True)
            cached = None
        if cached:
            return np.frombuffer(cached, dtype=np.float32)
    from kb.pipeline import runtime

    vector = np.asarray(runtime.embedder(model).encode([query]), dtype=np.float32)[0]
    if ttl > 0:
        try:
            _redis().set(key, vector.tobytes(), ex=ttl)
        except Exception:
            log.warning("could not cache a query embedding", exc_info=True)
    return vector
