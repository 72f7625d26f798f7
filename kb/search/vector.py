"""The vector leg: pgvector HNSW over the KB's chunks, one partial index per (column, metric).

The KB filter and any metadata filters are applied while the index is walked: with
hnsw.iterative_scan = relaxed_order the scan keeps going (up to hnsw.max_scan_tuples) until LIMIT rows
pass the filters, so a KB holding 1% of the table still gets its top_k instead of the ~ef_search/100 rows
a plain scan would leave. relaxed_order may return rows slightly out of order, hence the re-sort over a
materialised CTE (pgvector's documented pattern).

ef_search follows the KB's size (ef_for): the graph of a million-chunk KB needs a wider beam for the same recall
(tests/bench/bench_search.py at 1M rows: recall@10 0.951 at 400, 0.961 at 600, 0.974 at 800, 0.976 at 1000, for
~4 ms more per search), while a KB of up to 100k chunks gets recall@10 1.00 at 400 and would only pay for more.
"""

from __future__ import annotations

import math

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from kb.pipeline.store import VECTOR_COLUMNS
from kb.search import stats
from kb.search.types import METRICS, SearchError


def metric_for(kb) -> tuple[str, str]:
    """(canonical metric, distance operator) of the KB's vector_store_config."""
    name = str((kb.vector_store_config or {}).get("distance_metric") or "cosine").lower()
    if name not in METRICS:
        raise SearchError(f"unsupported distance metric {name!r}; supported: cosine, euclidean, dot")
    return METRICS[name]


def similarity(metric: str, distance: float) -> float:
    """Higher is better on every metric: cosine similarity, inner product, or 1/(1+L2 distance)."""
    if metric == "cosine":
        return 1.0 - distance
    if metric == "dot":
        return -distance  # pgvector's <#> is the negative inner product
    return 1.0 / (1.0 + distance)


def vector_literal(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"


def ef_for(kb_rows: int) -> int:
    """hnsw.ef_search for a KB of `kb_rows` chunks: SEARCH_EF_SEARCH up to SEARCH_EF_SCALE_CHUNKS chunks, then
    growing with the logarithm of the size to SEARCH_EF_SEARCH_MAX at ten times that (and beyond)."""
    base, top = int(settings.SEARCH_EF_SEARCH), max(int(settings.SEARCH_EF_SEARCH_MAX), int(settings.SEARCH_EF_SEARCH))
    start = max(1, int(settings.SEARCH_EF_SCALE_CHUNKS))
    if kb_rows <= start:
        return base
    return min(top, round(base + (top - base) * math.log10(kb_rows / start)))


def search(
    *, kb_id, metric: str, operator: str, vector: np.ndarray, limit: int, where: str, params: list, ef: int | None
) -> dict[int, tuple[int, float, float, str]]:
    """chunk id -> (rank, similarity, distance, document id), best first."""
    column = VECTOR_COLUMNS.get(int(vector.shape[0]))
    if column is None:
        raise SearchError(f"no vector column for {vector.shape[0]}-dimensional embeddings")
    literal = vector_literal(vector)
    # The metric is inlined (from the fixed METRICS table, never user text) so the planner can match the
    # partial index predicate `distance_metric = '<metric>'`; a bound parameter would hide it.
    sql = (
        f"WITH hits AS MATERIALIZED ("  # noqa: S608 - column, operator, metric come from fixed tables
        f" SELECT c.id, c.document_id, c.{column} {operator} %s::vector AS distance FROM kb_chunk c"
        f" WHERE c.kb_id = %s AND c.distance_metric = '{metric}'{where}"
        f" ORDER BY c.{column} {operator} %s::vector LIMIT %s"
        f") SELECT id, distance, document_id FROM hits ORDER BY distance, id"
    )
    ef = max(int(ef or ef_for(stats.kb_rows(kb_id))), limit)  # a caller's ef_search is taken as given
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('hnsw.ef_search', %s, true), set_config('hnsw.iterative_scan', %s, true),"
            " set_config('hnsw.max_scan_tuples', %s, true)",
            [str(ef), settings.SEARCH_ITERATIVE_SCAN, str(settings.SEARCH_MAX_SCAN_TUPLES)],
        )
        cursor.execute(sql, [literal, str(kb_id), *params, literal, limit])
        rows = cursor.fetchall()
    return {cid: (rank, similarity(metric, d), d, str(doc)) for rank, (cid, d, doc) in enumerate(rows, start=1)}
