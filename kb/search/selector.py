"""chunk_search: the one read path for retrieval (API, retrieval-test panel, `manage.py search`)."""

from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings
from django.db import connection

from kb.models import KnowledgeBase
from kb.search import filters as filter_sql
from kb.search import fusion, grouping, keyword, vector
from kb.search.query_embedding import embed_query
from kb.search.types import FUSIONS, MODES, KeywordLeg, SearchError, SearchResult

MAX_TOP_K = 100


def _json(value) -> dict[str, Any]:
    # Django's psycopg setup hands jsonb to Python as text (JSONField decodes it); raw cursors see that text.
    if isinstance(value, str | bytes):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def _hydrate(kb_id, ids: list[int]) -> dict[int, dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.id, c.content, c.context, c.metadata, c.document_id, d.name, d.url, d.source_type"
            " FROM kb_chunk c JOIN kb_document d ON d.id = c.document_id"
            " WHERE c.kb_id = %s AND c.id = ANY(%s)",
            [str(kb_id), ids],
        )
        rows = cursor.fetchall()
    return {
        cid: {"content": content, "context": context, "metadata": _json(meta), "document_id": str(doc_id),
              "document_name": name, "document_url": url, "source_type": source_type}
        for cid, content, context, meta, doc_id, name, url, source_type in rows
    }  # fmt: skip


def _term_like(query: str) -> bool:
    return fusion.term_like(query, max_words=int(settings.SEARCH_TERM_QUERY_WORDS))


def _shares(term, keyword_hits, keyword_ideal, *, vector_weight, term_vector_weight, keyword_confidence):
    """(vector share, keyword share) of this query's fusion (`term`: is it term-like); see chunk_search."""
    if vector_weight is not None:
        weight = float(vector_weight)
    elif term:
        weight = float(term_vector_weight if term_vector_weight is not None else settings.SEARCH_TERM_VECTOR_WEIGHT)
    else:
        weight = float(settings.SEARCH_VECTOR_WEIGHT)
    if not 0.0 <= weight <= 1.0:
        raise SearchError("vector_weight must be between 0 and 1")
    full_at = float(keyword_confidence if keyword_confidence is not None else settings.SEARCH_KEYWORD_CONFIDENCE)
    if not 0.0 <= full_at <= 1.0:
        raise SearchError("keyword_confidence must be between 0 and 1")
    return weight, (1.0 - weight) * fusion.keyword_confidence(keyword_hits, keyword_ideal, full_at=full_at)


def _page_share(term: bool, mode: str, page_weight: float | None) -> float:
    """The share of page evidence in this query's fusion: page_weight when given, else SEARCH_TERM_PAGE_WEIGHT
    for a term-like query and SEARCH_PAGE_WEIGHT for a question; hybrid only (each single mode stays its own leg)."""
    if page_weight is None:
        page_weight = settings.SEARCH_TERM_PAGE_WEIGHT if term else settings.SEARCH_PAGE_WEIGHT
    share = float(page_weight)
    if not 0.0 <= share <= 1.0:
        raise SearchError("page_weight must be between 0 and 1")
    return share if mode == "hybrid" else 0.0


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
    term_vector_weight: float | None = None,
    keyword_confidence: float | None = None,
    page_weight: float | None = None,
    group_by: str | None = None,
    chunks_per_document: int = 1,
    timings: dict[str, float] | None = None,
) -> list[SearchResult]:
    """Ranked chunks of `kb` for `query`. `kb` must come from the access funnel (kb_get_for_user).

    mode: hybrid | vector | keyword. fusion_method (hybrid; None = SEARCH_FUSION, or SEARCH_TERM_FUSION when set for
    a term-like query without a vector_weight): rrf (sum over legs of
    w / (k + rank), k = rrf_k_value or SEARCH_RRF_K, w = 2 * vector share for the vector leg and 2 * keyword share
    for the keyword leg), weighted (shares times absolute scores: similarity, keyword score over the query's ideal)
    or dbsf (shares times each leg's scores rescaled by their mean and spread for the query; kb.search.fusion).
    The vector share is vector_weight when given; else SEARCH_VECTOR_WEIGHT, or term_vector_weight
    (SEARCH_TERM_VECTOR_WEIGHT) for a term-like query (at most SEARCH_TERM_QUERY_WORDS words, not a question). The
    keyword share, 1 - vector share, is scaled by the keyword leg's confidence for the query: its best score over
    the query's ideal, full at keyword_confidence (SEARCH_KEYWORD_CONFIDENCE; 0 = always full).
    Page evidence (hybrid): each candidate chunk also gets page_weight (None: SEARCH_TERM_PAGE_WEIGHT for a
    term-like query, 0 otherwise) times its document's BM25 over the whole page (kb.search.pages), normalised as
    the fusion normalises a leg; the chunk legs share the rest (kb.search.fusion.with_pages).
    score_threshold drops results whose `score` (the mode's: similarity, keyword rank or fused) is below it.
    group_by: "chunk" (None, the default: ranked chunks) or "document": top_k distinct documents, each as its best
    chunk, with up to chunks_per_document - 1 of its other matching chunks in `document_chunks` (kb.search.grouping).
    `timings`, when given, receives seconds per step.
    """
    query = (query or "").strip()
    term = _term_like(query)
    if not fusion_method and settings.SEARCH_TERM_FUSION and vector_weight is None:
        # a term-like query may fuse its own way (its vector share is SEARCH_TERM_VECTOR_WEIGHT, see _shares)
        fusion_method = settings.SEARCH_TERM_FUSION if term else None
    fusion_method = fusion_method or settings.SEARCH_FUSION
    if mode not in MODES:
        raise SearchError(f"mode must be one of {MODES}")
    if fusion_method not in FUSIONS:
        raise SearchError(f"fusion must be one of {FUSIONS}")
    if not 1 <= int(top_k) <= MAX_TOP_K:
        raise SearchError(f"top_k must be between 1 and {MAX_TOP_K}")
    group_by = group_by or "chunk"
    if group_by not in grouping.GROUPINGS:
        raise SearchError(f"group_by must be one of {grouping.GROUPINGS}")
    if not 1 <= int(chunks_per_document) <= grouping.MAX_CHUNKS_PER_DOCUMENT:
        raise SearchError(f"chunks_per_document must be between 1 and {grouping.MAX_CHUNKS_PER_DOCUMENT}")
    by_document = group_by == "document"
    page_share = _page_share(term, mode, page_weight)
    if not query:
        return []
    where, params = filter_sql.build(filters)
    scope, scope_params = filter_sql.serving(kb)  # serving generation, enabled documents: in both legs
    where, params = scope + where, scope_params + params
    # grouping needs top_k distinct documents, and one page often holds several of the best chunks: a deeper pool
    wanted = top_k * grouping.POOL_PER_RESULT if by_document else top_k
    wide = max(int(candidates or settings.SEARCH_CANDIDATES), wanted)
    pool = wide if mode == "hybrid" or by_document else top_k
    # The vector leg always walks the index for the wider pool: a filtered HNSW scan (iterative, relaxed order)
    # that stops at top_k rows settles for its first approximate finds; asking for more and keeping the best
    # top_k measured recall@10 0.949 -> 0.961 for a KB holding 6% of a 100k table (tests/bench/bench_search.py).
    timings = timings if timings is not None else {}

    vector_hits: dict[int, tuple[int, float, float, str]] = {}
    keyword_leg = KeywordLeg()
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
        keyword_leg = keyword.search(
            kb_id=kb.pk, language=kb.language or "english", query=query, limit=pool, where=where, params=params,
            page_limit=wide if page_share > 0 else 0,
        )  # fmt: skip
        timings["keyword"] = time.perf_counter() - started
    keyword_hits, pages = keyword_leg.hits, keyword_leg.pages
    # each candidate's document, as the legs read it: for page evidence and grouping
    document_of = {cid: doc for cid, (*_, doc) in vector_hits.items()} | keyword_leg.documents

    vector_leg = {cid: (rank, sim) for cid, (rank, sim, *_) in vector_hits.items()}
    if mode == "vector":
        fused = {cid: sim for cid, (_, sim) in vector_leg.items()}
    elif mode == "keyword":
        fused = {cid: score for cid, (_, score) in keyword_hits.items()}
    else:
        weight, keyword_share = _shares(
            term, keyword_hits, keyword_leg.ideal, vector_weight=vector_weight, term_vector_weight=term_vector_weight,
            keyword_confidence=keyword_confidence,
        )  # fmt: skip
        if pages:  # the chunk legs share what page evidence leaves
            weight, keyword_share = weight * (1 - page_share), keyword_share * (1 - page_share)
        legs = [vector_leg, keyword_hits]
        rrf_k = int(rrf_k_value or settings.SEARCH_RRF_K)
        if fusion_method == "rrf":  # weighted RRF; shares 0.5/0.5 are the classic unweighted sum (both count 1)
            fused = fusion.rrf(legs, k=rrf_k, weights=[2 * weight, 2 * keyword_share])
        elif fusion_method == "dbsf":
            fused = fusion.dbsf(legs, weights=[weight, keyword_share])
        else:
            # absolute: similarity as it is (cosine, inner product or 1/(1+L2): the vector leg's scale is 1) and
            # keyword score over the query's ideal; relative: min-max per leg (SEARCH_WEIGHTED_SCORES)
            fused = fusion.weighted(
                legs, weights=[weight, keyword_share], scales=[1.0, keyword_leg.ideal],
                relative=settings.SEARCH_WEIGHTED_SCORES == "relative",
            )  # fmt: skip
        fused = fusion.with_pages(fused, pages, document_of, share=page_share, method=fusion_method, k=rrf_k)
    ranked = [(cid, s) for cid, s in fusion.ranked(fused) if score_threshold is None or s >= score_threshold]
    if by_document:
        started = time.perf_counter()
        if unknown := [cid for cid, _ in ranked if cid not in document_of]:  # a ranking that reads no documents
            document_of |= grouping.documents_of(kb.pk, unknown)
        groups = grouping.by_document(ranked, document_of, top_k=top_k, chunks_per_document=int(chunks_per_document))
        timings["group"] = time.perf_counter() - started
    else:
        groups = [(cid, score, []) for cid, score in ranked[:top_k]]

    started = time.perf_counter()
    rows = _hydrate(kb.pk, [cid for best, _, more in groups for cid in [best] + [m for m, _ in more]])
    timings["hydrate"] = time.perf_counter() - started

    def result(cid: int, score: float, rank: int) -> SearchResult | None:
        row = rows.get(cid)
        if row is None:  # deleted between the legs and now (a reindex replaced the document's chunks)
            return None
        meta = row["metadata"]
        v = vector_hits.get(cid)
        k = keyword_hits.get(cid)
        p = pages.get(row["document_id"])
        return SearchResult(
            chunk_id=cid, score=score, rank=rank, page=meta.get("page"),
            heading_path=list(meta.get("heading_path") or []), **row,
            vector_rank=v[0] if v else None, vector_score=v[1] if v else None, vector_distance=v[2] if v else None,
            keyword_rank=k[0] if k else None, keyword_score=k[1] if k else None,
            page_rank=p[0] if p else None, page_score=p[1] if p else None,
        )  # fmt: skip

    results = []
    for cid, score, more in groups:
        best = result(cid, score, len(results) + 1)
        if best is not None:
            best.document_chunks = [r for n, (m, s) in enumerate(more, start=1) if (r := result(m, s, n))]
            results.append(best)
    return results
