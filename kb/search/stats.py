"""Statistics search reads often and needs only as estimates (term frequencies, a KB's size), kept in this
process for SEARCH_TERM_STATS_SECONDS: both legs size their work by them (the keyword leg's row budget and BM25,
the vector leg's ef_search), and counting a million-chunk KB on every search would cost more than the search."""

from __future__ import annotations

import time

from django.conf import settings
from django.db import connection

_CACHE: dict[str, tuple[float, object]] = {}  # key -> (monotonic time read, value)
MAX_CACHED = 100_000  # entries of _CACHE (per-KB term counts are most of them)


def cached(key: str, load):
    """`load()`'s value, read again at most every SEARCH_TERM_STATS_SECONDS in this process."""
    found, value = fresh(key)
    if not found:
        value = load()
        keep(key, value)
    return value


def fresh(key: str) -> tuple[bool, object]:
    """(True, value) while `key` was read less than SEARCH_TERM_STATS_SECONDS ago here, else (False, None)."""
    at, value = _CACHE.get(key, (-1e9, None))
    return (True, value) if time.monotonic() - at < float(settings.SEARCH_TERM_STATS_SECONDS) else (False, None)


def keep(key: str, value) -> None:
    if len(_CACHE) > MAX_CACHED:  # a process meets many terms: start over rather than grow without bound
        _CACHE.clear()
    _CACHE[key] = (time.monotonic(), value)


def clear() -> None:
    _CACHE.clear()


def kb_rows(kb_id) -> int:
    """The KB's chunk count (every generation's rows: an estimate is enough)."""

    def count() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM kb_chunk WHERE kb_id = %s", [str(kb_id)])
            return int(cursor.fetchone()[0])

    return cached(f"kb rows {kb_id}", count)
