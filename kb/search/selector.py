"""chunk_search: the one read path for retrieval (API, retrieval-test panel, `manage.py search`)."""

from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings
from django.db import connection

from kb.models import KnowledgeBase
from kb.search import filters as filter_sql
from kb.search import fusion, keyword, vector
from kb.search.query_embedding import embed_query
from kb.search.types import FUSIONS, MODES, SearchError, SearchResult

MAX_TOP_K = 100


def _json(value) -> dict[str, Any]:
    # Django's psycopg setup hands jsonb to Python as text (JSONField decodes it); raw cursors see that text.
    if isinstance(value, str | bytes):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def _hydrate(kb_id, ids: list[int]) -> dict[int, dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.id, c.content, c.metadata, c.document_id, d.name, d.url, d.source_type"
            " FROM kb_chunk c JOIN kb_document d ON d.id = c.document_id"
            " WHERE c.kb_id = %s AND c.id = ANY(%s)",
            [str(kb_id), ids],
        )
        rows = cursor.fetchall()
    return {
        cid: {"content": content, "metadata": _json(meta), "document_id": str(doc_id),
              "document_name": name, "document_url": url, "source_type": source_type}
        for cid, content, meta, doc_id, name, url, source_type in rows
    }  # fmt: skip


def chunk_search(
    *,
    kb: KnowledgeBase,
    query: str,
    mode: str = "hybrid",
    top_k: int = 10,
    filters: dict[str, Any] | None = None,
    score_threshold: float | None = None,
    fusion_method: str | None = None,
    rrf_k_value: int | None = None,
    vector_weight: float | None = None,
    candidates: int | None = None,
    ef_search: int | None = None,
    timings: dict[str, float] | None = None,
) -> list[SearchResult]:
    """Ranked chunks of `kb` for `query`. `kb` must come from the access funnel (kb_get_for_user).

    mode: hybrid | vector | keyword. fusion_method (hybrid; None = SEARCH_FUSION, "weighted"): weighted
    (vector_weight * min-max-normalised vector score + (1 - vector_weight) * normalised keyword score) or rrf
    (sum over legs of w / (k + rank), k = rrf_k_value or SEARCH_RRF_K, w = 2 * vector_weight for the vector leg
    and 2 * (1 - vector_weight) for the keyword leg). vector_weight defaults to SEARCH_VECTOR_WEIGHT.
    score_threshold drops results whose `score` (the mode's: similarity, keyword rank or fused) is below it.
    `timings`, when given, receives seconds per step.
    """
    query = (query or "").strip()
    fusion_method = fusion_method or settings.SEARCH_FUSION
    if mode not in MODES:
        raise SearchError(f"mode must be one of {MODES}")
    if fusion_method not in FUSIONS:
        raise SearchError(f"fusion must be one of {FUSIONS}")
    if not 1 <= int(top_k) <= MAX_TOP_K:
        raise SearchError(f"top_k must be between 1 and {MAX_TOP_K}")
    if not query:
        return []
    where, params = filter_sql.build(filters)
    scope, scope_params = filter_sql.serving(kb)  # serving generation, enabled documents: in both legs
    where, params = scope + where, scope_params + params
    wide = max(int(candidates or settings.SEARCH_CANDIDATES), top_k)
    pool = wide if mode == "hybrid" else top_k
    # The vector leg always walks the index for the wider pool: a filtered HNSW scan (iterative, relaxed order)
    # that stops at top_k rows settles for its first approximate finds; asking for more and keeping the best
    # top_k measured recall@10 0.949 -> 0.961 for a KB holding 6% of a 100k table (tests/bench/bench_search.py).
    timings = timings if timings is not None else {}

    vector_hits: dict[int, tuple[int, float, float]] = {}
    keyword_hits: dict[int, tuple[int, float]] = {}
    keyword_ideal: float | None = None
    if mode in ("hybrid", "vector"):
        started = time.perf_counter()
        model = (kb.embedding_config or {}).get("model") or settings.DEFAULT_EMBEDDING_MODEL
        query_vector = embed_query(model=model, query=query, scope=str(kb.pk))
        timings["embed"] = time.perf_counter() - started
        metric, operator = vector.metric_for(kb)
        started = time.perf_counter()
        vector_hits = vector.search(
            kb_id=kb.pk, metric=metric, operator=operator, vector=query_vector, limit=wide, where=where,
            params=params, ef=ef_search,
        )  # fmt: skip
        timings["vector"] = time.perf_counter() - started
    if mode in ("hybrid", "keyword"):
        started = time.perf_counter()
        keyword_hits, keyword_ideal = keyword.search(
            kb_id=kb.pk, language=kb.language or "english", query=query, limit=pool, where=where, params=params
        )
        timings["keyword"] = time.perf_counter() - started

    vector_leg = {cid: (rank, sim) for cid, (rank, sim, _) in vector_hits.items()}
    if mode == "vector":
        fused = {cid: sim for cid, (_, sim) in vector_leg.items()}
    elif mode == "keyword":
        fused = {cid: score for cid, (_, score) in keyword_hits.items()}
    else:
        weight = float(vector_weight if vector_weight is not None else settings.SEARCH_VECTOR_WEIGHT)
        if not 0.0 <= weight <= 1.0:
            raise SearchError("vector_weight must be between 0 and 1")
        if fusion_method == "rrf":  # weighted RRF; weight 0.5 is the classic unweighted sum (both legs count 1)
            k = int(rrf_k_value or settings.SEARCH_RRF_K)
            fused = fusion.rrf([vector_leg, keyword_hits], k=k, weights=[2 * weight, 2 * (1.0 - weight)])
        else:
            # absolute: similarity as it is (cosine, inner product or 1/(1+L2): the vector leg's scale is 1) and
            # keyword score over the query's ideal; relative: min-max per leg (SEARCH_WEIGHTED_SCORES)
            fused = fusion.weighted(
                [vector_leg, keyword_hits], weights=[weight, 1.0 - weight], scales=[1.0, keyword_ideal],
                relative=settings.SEARCH_WEIGHTED_SCORES == "relative",
            )  # fmt: skip
    ranked = [(cid, s) for cid, s in fusion.ranked(fused) if score_threshold is None or s >= score_threshold]
    ranked = ranked[:top_k]

    started = time.perf_counter()
    rows = _hydrate(kb.pk, [cid for cid, _ in ranked])
    timings["hydrate"] = time.perf_counter() - started
    results = []
    for cid, score in ranked:
        row = rows.get(cid)
        if row is None:  # deleted between the legs and now (a reindex replaced the document's chunks)
            continue
        meta = row["metadata"]
        v = vector_hits.get(cid)
        k = keyword_hits.get(cid)
        results.append(
            SearchResult(
                chunk_id=cid, score=score, rank=len(results) + 1, page=meta.get("page"),
                heading_path=list(meta.get("heading_path") or []), **row,
                vector_rank=v[0] if v else None, vector_score=v[1] if v else None, vector_distance=v[2] if v else None,
                keyword_rank=k[0] if k else None, keyword_score=k[1] if k else None,
            )
        )  # fmt: skip
    return results
