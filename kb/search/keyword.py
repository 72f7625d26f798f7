"""The keyword leg: PostgreSQL full text in the KB's language over the GIN index chunk_search_gin.

Query syntax is websearch_to_tsquery's. A query that uses it ("quoted phrase", -exclude, or) is matched
exactly as written and ranked with ts_rank_cd. A plain question is matched on any of its terms and ranked
by the measured default, "idf" (see tests/bench/bench_search.py): per-term ts_rank weighted by an inverse
document frequency read from the planner's statistics of the tsvector column, which PostgreSQL's own ranks
lack. Terms found in more than SEARCH_KEYWORD_COMMON_FRACTION of all chunks still score but do not select
rows (unless too few rows match otherwise): ranking every chunk that says "django" is what makes an
any-term query slow on a large table.

Headings count more than body text: a chunk's heading path (page title > section > subsection) is what the
chunk is about, and a question usually names that topic. Scoring reads setweight(headings, 'B') || content
(content is weight D), so ts_rank's default weights {D 0.1, C 0.2, B 0.4, A 1.0} make a heading term worth
four body occurrences. SEARCH_KEYWORD_HEADINGS picks where that vector comes from:
  query   built at query time for the (at most SEARCH_KEYWORD_MAX_MATCHES) matched rows, from
          metadata->'heading_path' (rows are still matched on content through the GIN index)
  stored  search_vector already holds the weight-B headings (the write path computes
          setweight(to_tsvector(lang, headings), 'B') || setweight(to_tsvector(lang, content), 'D'))
  off     content only
Chosen on the Django-docs dev question set, checked on the held-out FAQ set (tests/bench/bench_search.py).
"""

from __future__ import annotations

import math
import re
import time

from django.db import connection

from kb.search.types import setting

EXPLICIT_SYNTAX = re.compile(r'"|(^|\s)-\w|\s+or\s+', re.IGNORECASE)
RANKINGS = ("idf", "ts_rank", "ts_rank_cd")
HEADINGS = ("query", "stored", "off")
_STATS: dict[str, object] = {"at": -1e9, "freqs": {}, "floor": 0.0}


def lexeme_query(lexeme: str) -> str:
    """A tsquery (text form) matching one already-normalised lexeme."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def _term_frequencies() -> tuple[dict[str, float], float]:
    """Fraction of chunks holding each common lexeme, and a floor for the rest (ANALYZE's statistics)."""
    if time.monotonic() - float(_STATS["at"]) < float(setting("SEARCH_TERM_STATS_SECONDS", 600)):
        return _STATS["freqs"], float(_STATS["floor"])  # type: ignore[return-value]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats"
            " WHERE tablename = 'kb_chunk' AND attname = 'search_vector' AND schemaname = current_schema()"
        )
        row = cursor.fetchone()
    freqs, floor = {}, 0.0
    if row and row[0]:
        elems, values = row
        freqs = dict(zip(elems, values[: len(elems)], strict=True))
        floor = values[len(elems)] / 2  # after the per-element frequencies come min, max, null fraction
    _STATS.update(at=time.monotonic(), freqs=freqs, floor=floor)
    return freqs, floor


def idf(fraction: float) -> float:
    fraction = min(max(fraction, 1e-6), 1.0)
    return math.log(1.0 + (1.0 - fraction) / fraction)  # BM25's idf with n/N = fraction


def search(*, kb_id, language: str, query: str, limit: int, where: str, params: list) -> dict[int, tuple[int, float]]:
    """chunk id -> (rank, score), best first."""
    ranking = setting("SEARCH_KEYWORD_RANKING", "idf")
    norm = int(setting("SEARCH_KEYWORD_NORMALIZATION", 0))
    if EXPLICIT_SYNTAX.search(query):
        q_sql, q_params = "websearch_to_tsquery(%s::regconfig, %s)", [language, query]
        return _run(
            kb_id, language, f"ts_rank_cd(c.search_vector, {q_sql}, {norm})", q_params, q_sql, q_params, limit,
            where, params,
        )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SELECT tsvector_to_array(to_tsvector(%s::regconfig, %s))", [language, query])
        lexemes = sorted(cursor.fetchone()[0] or [])
    if not lexemes:
        return {}
    any_term = " | ".join(lexeme_query(lex) for lex in lexemes)
    if ranking in ("ts_rank", "ts_rank_cd"):
        return _run(kb_id, language, f"{ranking}(c.search_vector, %s::tsquery, {norm})", [any_term], "%s::tsquery",
                    [any_term], limit, where, params)  # fmt: skip
    freqs, floor = _term_frequencies()
    fractions = {lex: freqs.get(lex, floor) for lex in lexemes}
    score = " + ".join(f"%s * ts_rank(c.search_vector, %s::tsquery, {norm})" for _ in lexemes)
    score_params = [p for lex in lexemes for p in (idf(fractions[lex]), lexeme_query(lex))]
    common = float(setting("SEARCH_KEYWORD_COMMON_FRACTION", 0.05))
    rare = [lex for lex in lexemes if fractions[lex] <= common]
    if rare and len(rare) < len(lexemes):
        selective = " | ".join(lexeme_query(lex) for lex in rare)
        hits = _run(kb_id, language, score, score_params, "%s::tsquery", [selective], limit, where, params)
        if len(hits) >= limit:
            return hits
    return _run(kb_id, language, score, score_params, "%s::tsquery", [any_term], limit, where, params)


def _run(kb_id, language, score_sql, score_params, match_sql, match_params, limit, where, params):
    # Ranking reads every matching tsvector: a query made only of terms that half the KB contains would rank
    # tens of thousands of rows. SEARCH_KEYWORD_MAX_MATCHES bounds that work (rows past it are not ranked).
    cap = int(setting("SEARCH_KEYWORD_MAX_MATCHES", 2000))
    headings = setting("SEARCH_KEYWORD_HEADINGS", "query")
    if headings not in HEADINGS:
        raise ValueError(f"SEARCH_KEYWORD_HEADINGS must be one of {HEADINGS}")
    vector_sql, vector_params = "c.search_vector", []
    if headings == "query":  # the stored vector is content only: add the weight-B headings of the matched rows
        vector_sql = (
            "setweight(to_tsvector(%s::regconfig, coalesce(c.metadata->'heading_path', '[]'::jsonb)), 'B')"
            " || c.search_vector"
        )
        vector_params = [language]
    sql = (
        f"WITH m AS MATERIALIZED (SELECT c.id, {vector_sql} AS search_vector FROM kb_chunk c"  # noqa: S608
        f" WHERE c.kb_id = %s AND c.search_vector @@ {match_sql}{where} LIMIT %s)"
        f" SELECT c.id, {score_sql} AS score FROM m c ORDER BY score DESC, c.id LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*vector_params, str(kb_id), *match_params, *params, cap, *score_params, limit])
        rows = cursor.fetchall()
    return {cid: (rank, float(score)) for rank, (cid, score) in enumerate(rows, start=1)}
