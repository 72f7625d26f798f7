"""The KB-level result cache: a chatbot asking the same question again costs one Redis lookup and one hydration.

Key `pxb:sres:<kb id>:<hmac>`: HMAC-SHA256 (a key derived from SECRET_KEY) of the KB id, its content_version,
the mode, the query (whitespace collapsed — the selector is given the same form, so a hit and a miss ranked the
same text), every other keyword argument (sorted, whatever the selector grows: top_k, filters, score_threshold,
fusion options, group_by ...) and the SEARCH_* settings that shape a ranking. The query never appears in clear;
the KB id does, so one KB's entries can be found and dropped (scope_pattern) and one tenant's entry can never
answer another's search.

content_version (table kb_content_version, raised by the triggers of migration 0011 at every change of the KB's chunks,
documents' enabled flag/metadata/deletion and serving settings) is read inside the search's snapshot, so the key
names exactly the state the results were ranked on, and any change to the KB misses.

The value holds chunk ids, ranks and scores (the non-text fields of each SearchResult), never document text,
names or headings. A hit hydrates the rows from PostgreSQL through the serving scope and the request's filters
(kb.search.filters): if one of them is no longer served (it cannot be, at an unchanged version, but the cache
must never be what brings a disabled or deleted chunk back) the entry is ignored and the search runs.

Stored only by a search that runs in its own snapshot. One inside a caller's transaction may see that
transaction's uncommitted writes, and the version moves only when they commit: such a search never stores, and
reads an entry (committed state) only when its transaction has not written to the KB (the triggers' mark,
`privexbot.kb_content_bumped`). Redis down: the search runs without the cache (bypass), never fails because of it.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import fields
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils.crypto import salted_hmac

from kb.search import filters as filter_sql
from kb.search import selector
from kb.search.types import SearchResult
from privexbot.metrics.definitions import SEARCH_RESULT_CACHE

log = logging.getLogger(__name__)
KEY_PREFIX = "pxb:sres:"
HIT, MISS, BYPASS = "hit", "miss", "bypass"
_FORMAT = 1  # in the key: a change of what is stored never reads an entry of the old shape
# Fields a hit computes from the hydrated row (selector.chunk_search does the same), so they are never stored.
_FROM_METADATA = ("page", "heading_path")


def scope_pattern(kb_id) -> str:
    """The keys of one KB, for SCAN MATCH."""
    return f"{KEY_PREFIX}{kb_id}:*"


def normalize_query(query) -> str:
    return " ".join(str(query or "").split())


def _redis():
    from privexbot.redis import get_client

    return get_client()


@functools.cache
def _ranking_setting_names() -> tuple[str, ...]:
    # Every SEARCH_* knob changes rankings (fusion defaults, weights, keyword budget, ef_search ...); the model
    # default and the embedding backend change the query vector. Names are fixed for the life of a process.
    names = {n for n in dir(settings) if n.startswith("SEARCH_") and n != "SEARCH_RESULT_CACHE_SECONDS"}
    return tuple(sorted(names | {"DEFAULT_EMBEDDING_MODEL", "EMBEDDING_BACKEND"}))


def _canonical(value: Any) -> Any:
    """A JSON form in which equal options are equal and unequal ones differ (types kept apart)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {"__dict__": sorted([str(k), _canonical(v)] for k, v in value.items())}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, set | frozenset):
        return {"__set__": sorted(json.dumps(_canonical(v), sort_keys=True) for v in value)}
    return {type(value).__qualname__: str(value)}  # UUID, Decimal ...


def cache_key(*, kb, mode: str, query: str, options: dict[str, Any]) -> str:
    material = json.dumps(
        {
            "format": _FORMAT,
            "kb": str(kb.pk),
            "version": int(kb.content_version),
            "mode": mode,
            "query": query,
            "options": _canonical(options),
            "settings": [[name, _canonical(getattr(settings, name))] for name in _ranking_setting_names()],
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    digest = salted_hmac("kb.search.cache", material, algorithm="sha256").hexdigest()
    return f"{KEY_PREFIX}{kb.pk}:{digest}"


def _numbers_only(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float):
        return True
    if isinstance(value, list | tuple):
        return all(_numbers_only(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _numbers_only(v) for k, v in value.items())
    return False


NESTED = "document_chunks"  # group_by=document: a result's other chunks, SearchResults themselves


def _skeleton(result: SearchResult, left_out: set[str]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for field in fields(SearchResult):
        value = getattr(result, field.name)
        if field.name == NESTED and isinstance(value, list) and all(type(r) is SearchResult for r in value):
            row[NESTED] = [_skeleton(r, left_out) for r in value]
        elif _numbers_only(value):
            row[field.name] = value
        else:
            left_out.add(field.name)
    return row


def _entry(results) -> str | None:
    """What Redis keeps: per result the fields without text (its grouped chunks likewise); and the names of the
    fields left out, which a hit must be able to hydrate. None when the results are not plain SearchResults."""
    if not isinstance(results, list) or not all(type(r) is SearchResult for r in results):
        return None
    left_out: set[str] = set()
    kept = [_skeleton(result, left_out) for result in results]
    return json.dumps({"results": kept, "hydrated": sorted(left_out)}, separators=(",", ":"))


def _chunk_ids(kept: list[dict]) -> list[int]:
    ids = []
    for row in kept:
        ids.append(int(row["chunk_id"]))
        ids += _chunk_ids(row.get(NESTED) or [])
    return ids


def _served_ids(kb, ids: list[int], filters) -> set[int]:
    where, params = filter_sql.build(filters)
    scope, scope_params = filter_sql.serving(kb)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.id FROM kb_chunk c WHERE c.kb_id = %s AND c.id = ANY(%s){scope}{where}",  # noqa: S608 - fixed
            [str(kb.pk), ids, *scope_params, *params],
        )
        return {row[0] for row in cursor.fetchall()}


def _rebuilt(row: dict[str, Any], rows: dict[int, dict], hydrated: set[str]) -> SearchResult | None:
    hydrated_row = rows[int(row["chunk_id"])]
    if not hydrated <= set(hydrated_row) | set(_FROM_METADATA):
        return None  # a text field the tables do not give back (a newer result shape): search instead
    meta = hydrated_row.get("metadata") or {}
    derived = {"page": meta.get("page"), "heading_path": list(meta.get("heading_path") or [])}
    values = {**row, **hydrated_row, **derived}
    if NESTED in row:
        nested = [_rebuilt(r, rows, hydrated) for r in row[NESTED]]
        if any(r is None for r in nested):
            return None
        values[NESTED] = nested
    return SearchResult(**{f.name: values[f.name] for f in fields(SearchResult) if f.name in values})


def _results_from(kb, raw: bytes, filters, timings: dict[str, float]) -> list[SearchResult] | None:
    """The cached ranking with its rows from the tables; None when it cannot be reproduced exactly."""
    try:
        entry = json.loads(raw)
        kept, hydrated = entry["results"], set(entry["hydrated"])
        ids = _chunk_ids(kept)
    except (ValueError, KeyError, TypeError):
        return None
    if not ids:
        return []
    started = time.perf_counter()
    if _served_ids(kb, ids, filters) != set(ids):
        return None
    rows = selector._hydrate(kb.pk, ids)
    timings["hydrate"] = time.perf_counter() - started
    if len(rows) != len(set(ids)):
        return None
    results = [_rebuilt(row, rows, hydrated) for row in kept]
    return None if any(r is None for r in results) else results


def _written_here(kb) -> bool:
    """This transaction changed the KB's served content (migration 0011 marks it; the version moves at commit)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT strpos(coalesce(current_setting('privexbot.kb_content_bumped', true), ''), %s) > 0", [str(kb.pk)]
        )
        return bool(cursor.fetchone()[0])


def search(run, *, kb, current: bool, store: bool, mode: str, timings: dict[str, float], **kwargs):
    """`run(kb=..., mode=..., timings=..., **kwargs)` (the selector) through the cache. `kb` must carry the
    content_version of this search's snapshot (`current`: False when it could not be read, e.g. the KB is
    gone); `store`: the search runs in its own snapshot (see the module's docstring)."""
    kwargs["query"] = normalize_query(kwargs.get("query"))
    ttl = int(settings.SEARCH_RESULT_CACHE_SECONDS)
    if ttl <= 0 or not current or not kwargs["query"] or (not store and _written_here(kb)):
        SEARCH_RESULT_CACHE.labels(outcome=BYPASS).inc()
        return run(kb=kb, mode=mode, timings=timings, **kwargs)
    started = time.perf_counter()
    options = {name: value for name, value in kwargs.items() if name != "query"}
    key = cache_key(kb=kb, mode=mode, query=kwargs["query"], options=options)
    try:
        raw = _redis().get(key)
    except Exception:  # a cache outage must not take search down
        log.warning("search result cache unavailable", exc_info=True)
        SEARCH_RESULT_CACHE.labels(outcome=BYPASS).inc()
        return run(kb=kb, mode=mode, timings=timings, **kwargs)
    timings["cache"] = time.perf_counter() - started
    if raw is not None:
        results = _results_from(kb, raw, kwargs.get("filters"), timings)
        if results is not None:
            SEARCH_RESULT_CACHE.labels(outcome=HIT).inc()
            return results
    results = run(kb=kb, mode=mode, timings=timings, **kwargs)
    value = _entry(results) if store else None
    if value is None:
        SEARCH_RESULT_CACHE.labels(outcome=BYPASS).inc()
        return results
    try:
        _redis().set(key, value, ex=ttl)
    except Exception:
        log.warning("could not cache a search result", exc_info=True)
        SEARCH_RESULT_CACHE.labels(outcome=BYPASS).inc()
        return results
    SEARCH_RESULT_CACHE.labels(outcome=MISS).inc()
    return results
