"""Hybrid search over a KB's chunks (issue 7).

    from kb.search import chunk_search
    results = chunk_search(kb=kb_get_for_user(user=u, kb_id=...), query="...", mode="hybrid", top_k=10)

Settings (typed in settings.py, listed in deploy/.env.example; the defaults are the measured ones: fusion and the
keyword ranking were chosen on the tuning halves of tests/bench/bench_retrieval.py's judged sets, the heading weight
and candidate pool on the Django-docs dev set of tests/bench/bench_search.py):
    SEARCH_EF_SEARCH               400    hnsw.ef_search of a KB of up to SEARCH_EF_SCALE_CHUNKS chunks (raised to
                                          the candidate count when that is larger) ...
    SEARCH_EF_SCALE_CHUNKS         100000 ... past which it grows with log10 of the KB's size ...
    SEARCH_EF_SEARCH_MAX           1000   ... up to this, reached at ten times SEARCH_EF_SCALE_CHUNKS (recall@10
                                          0.951 -> 0.976 for a 1M-chunk KB; kb/search/vector.py)
    SEARCH_ITERATIVE_SCAN          relaxed_order   hnsw.iterative_scan (off | strict_order | relaxed_order)
    SEARCH_MAX_SCAN_TUPLES         20000  hnsw.max_scan_tuples: how far a filtered scan may walk
    SEARCH_CANDIDATES              40     rows each leg contributes to fusion in hybrid mode
    SEARCH_FUSION                  dbsf   fusion when the caller names none: dbsf | weighted | rrf
    SEARCH_RRF_K                   30     k of reciprocal rank fusion
    SEARCH_VECTOR_WEIGHT           0.55   vector share of a question in every fusion
    SEARCH_TERM_QUERY_WORDS        6      a query of at most this many words and no question is term-like ...
    SEARCH_TERM_VECTOR_WEIGHT      0.4    ... and fuses with this vector share
    SEARCH_TERM_FUSION             ""     ... and with this fusion ("" = SEARCH_FUSION)
    SEARCH_TERM_PAGE_WEIGHT        0.5    ... and adds its pages' BM25 (kb/search/pages.py) at this share (0 = off)
    SEARCH_PAGE_WEIGHT             0      the same share for a question
    SEARCH_PAGE_BM25_B             0.5    BM25 length normalisation of pages
    SEARCH_KEYWORD_RANKING         bm25   bm25 | idf | ts_rank | ts_rank_cd (ranking of plain keyword queries)
    SEARCH_KEYWORD_BM25_K1         1.2    BM25 term-frequency saturation (kb/search/bm25.py)
    SEARCH_KEYWORD_BM25_B          0.3    BM25 length normalisation (0 = none)
    SEARCH_KEYWORD_PHRASE_WEIGHT   1.0    weight of a compound word's phrase (html_theme) beside its parts
    SEARCH_KEYWORD_NORMALIZATION   0      ts_rank normalisation bits of the other rankings (0 = none)
    SEARCH_WEIGHTED_SCORES         absolute  weighted fusion on absolute scores (similarity; keyword score over the
                                          query's ideal) | relative (min-max within each leg's candidates)
    SEARCH_KEYWORD_COMMON_FRACTION 0.05   when rows must be selected, terms in more chunks than this only score
    SEARCH_KEYWORD_MAX_MATCHES     2000   matching rows ranked at most (bounds any-common-term queries on big KBs)
    SEARCH_KEYWORD_RANK_BUDGET     12000  term evaluations per plain query: rows ranked = budget / terms (capped
                                          by MAX_MATCHES); past that, rows are selected by the rarest terms
    SEARCH_KEYWORD_HEADING_WEIGHT  0.4    ts_rank weight of the context line (stored at weight B; body text is 0.1)
    SEARCH_TERM_STATS_SECONDS      600    how long a process keeps the term statistics it read
    SEARCH_RESULT_CACHE_SECONDS    600    how long ranked chunk ids and scores stay in Redis (kb/search/cache.py;
                                          keyed by the KB's content version, so any change misses); 0 = off
"""

import functools
import time

from django.db import connection

from kb.search import cache, selector
from kb.search.snapshot import as_of_snapshot, one_snapshot
from kb.search.types import MODES, SearchError, SearchResult
from privexbot.metrics.definitions import observe_search


@functools.wraps(selector.chunk_search)
def chunk_search(*, kb, mode: str = "hybrid", timings: dict[str, float] | None = None, **kwargs) -> list[SearchResult]:
    # Every door searches through here, so this is where latency per mode and the count are measured, with the
    # seconds of each step (query embedding, each leg, hydrate) the selector reports in `timings`; and where the
    # search gets its one consistent snapshot (kb.search.snapshot), and the result cache (kb.search.cache) its
    # content version as of that snapshot; it stores only what a search in its own snapshot ranked.
    steps = timings if timings is not None else {}
    started = time.perf_counter()
    own_snapshot = not connection.in_atomic_block
    with one_snapshot():
        current = as_of_snapshot(kb)
        results = cache.search(
            selector.chunk_search, kb=current, current=current is not kb, store=own_snapshot, mode=mode,
            timings=steps, **kwargs,
        )  # fmt: skip
    observe_search(mode, time.perf_counter() - started, steps)
    return results


__all__ = ["MODES", "SearchError", "SearchResult", "chunk_search"]
