"""BM25 ranking of plain keyword queries (SEARCH_KEYWORD_RANKING=bm25), in one SQL statement over the stored tsvector.

Why by hand: BM25 for PostgreSQL exists only as C extensions (ParadeDB's pg_search, VectorChord-bm25,
pg_textsearch) that the embedded, pip-installed PostgreSQL cannot load; PostgreSQL's own ts_rank has no inverse
document frequency and no length normalisation, which is what put the keyword leg 0.16 nDCG@10 below bm25s on the
same chunks (tests/bench/bench_retrieval.py, sphinx_terms).

Per matched chunk and query term t:  idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)), summed.

- tf: ts_rank of t alone, scaled so one body occurrence is 1. ts_rank already saturates (the i-th occurrence of a
  term adds 1/i^2: two count 1.25, the limit is 1.64) and weighs by position class, so a term in the chunk's
  context line (document title > headings, weight B) counts SEARCH_KEYWORD_HEADING_WEIGHT / 0.1 body occurrences —
  BM25F's field weight, before BM25's own saturation.
- dl: the chunk's distinct lexemes (length(tsvector), read from its header); avgdl: their mean over the matched
  chunks (a full pass over a 1M-row KB for the KB-wide mean would cost more than the search).
- idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5)), N the KB's chunks. df is exact for the terms that selected the
  matched rows when the match was not capped (every chunk holding such a term is among them: counted there, no
  extra query); otherwise, and for common terms, it comes from the planner's statistics as in the idf ranking.
- Compound words: a query word joined by _ - . : / (html_theme, sphinx-build) is split by PostgreSQL's parser
  into its parts, so "html_theme" alone would match every chunk saying "theme". Each such word also scores as a
  phrase (its parts adjacent, PostgreSQL's <-> operator) with its own idf, times SEARCH_KEYWORD_PHRASE_WEIGHT.

The ideal (every term and phrase saturated: sum of idf * (k1 + 1)) is returned for weighted fusion's scale.
"""

from __future__ import annotations

import math
import re

from django.conf import settings
from django.db import connection

TS_RANK_ONE = 1.0 / 1.64493406685  # ts_rank of one occurrence of weight 1 (it divides by pi^2 / 6)
COMPOUND = re.compile(r"\w+(?:[_\-.:/]+\w+)+")


def compound_words(query: str) -> list[str]:
    """The query's words made of parts joined by _ - . : / (each scored as a phrase too)."""
    return list(dict.fromkeys(COMPOUND.findall(query)))


def phrases(language: str, query: str) -> list[str]:
    """tsqueries (text) of the query's compound words whose parts PostgreSQL splits into two lexemes or more."""
    words = compound_words(query)
    if not words:
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT phraseto_tsquery(%s::regconfig, w)::text FROM unnest(%s::text[]) w", [language, words])
        found = [row[0] for row in cursor.fetchall()]
    return list(dict.fromkeys(q for q in found if q and "<" in q))


def idf(df: float, total: float) -> float:
    return math.log(1.0 + (total - df + 0.5) / (df + 0.5))


def search(
    *, kb_id, lexemes: list[str], phrase_queries: list[str], fractions: dict[str, float], selecting: list[str],
    kb_rows: int, cap: int, weights: str, body_weight: float, match_sql: str, match_params: list, limit: int,
    where: str, params: list, quote,
) -> tuple[dict[int, tuple[int, float]], float | None]:  # fmt: skip
    """({chunk id: (rank, score)} best first, the query's ideal score). `fractions`: each lexeme's share of the
    table's chunks by the statistics; `selecting`: the lexemes whose matches `match_sql` selects; `quote`: a
    lexeme -> its tsquery text (keyword.lexeme_query: one quoting rule)."""

    k1, b = float(settings.SEARCH_KEYWORD_BM25_K1), float(settings.SEARCH_KEYWORD_BM25_B)
    phrase_weight = float(settings.SEARCH_KEYWORD_PHRASE_WEIGHT)
    phrase_queries = phrase_queries if phrase_weight > 0 else []
    tf_scale = 1.0 / (body_weight * TS_RANK_ONE)
    selected = set(selecting)
    columns, counts, terms, score_params = [], [], [], []
    for i, lex in enumerate(lexemes):
        columns.append(f"ts_rank({weights}, c.search_vector, %s::tsquery, 0) * {tf_scale!r} AS f{i}")
        score_params.append(quote(lex))
        terms.append((f"f{i}", lex in selected, fractions[lex], 1.0))
    for j, phrase in enumerate(phrase_queries):
        columns.append(f"(c.search_vector @@ %s::tsquery)::int::float8 AS f{len(lexemes) + j}")
        score_params.append(phrase)
        parts = [lex for lex in lexemes if quote(lex) in phrase]
        exact = any(lex in selected for lex in parts)  # every chunk with the phrase has that selecting part
        estimate = min((fractions[lex] for lex in parts), default=1.0 / max(1, kb_rows))
        terms.append((f"f{len(lexemes) + j}", exact, estimate, phrase_weight))
    sums, idf_params = [], []
    for name, exact, fraction, weight in terms:
        counts.append(f"count(*) FILTER (WHERE r.{name} > 0) OVER () AS n_{name}")
        # exact df while the match was not capped and this term selected it; the statistics' estimate otherwise
        idf_sql = (
            f"(CASE WHEN %s AND s.matched < %s THEN ln(1 + (%s - s.n_{name} + 0.5) / (s.n_{name} + 0.5)) ELSE %s END)"
        )
        idf_params += [exact, cap, float(kb_rows), idf(fraction * kb_rows, float(kb_rows))]
        sums.append((weight, idf_sql, name))
    score_sql = " + ".join(
        f"{weight!r} * {idf_sql} * s.{name} * {k1 + 1!r} / NULLIF(s.{name} + {k1!r} * (1 - {b!r} + {b!r} * s.dl"
        " / NULLIF(s.avgdl, 0)), 0)"
        for weight, idf_sql, name in sums
    )
    ideal_sql = " + ".join(f"{weight!r} * {idf_sql} * {k1 + 1!r}" for weight, idf_sql, _ in sums)
    sql = (
        "WITH m AS MATERIALIZED (SELECT c.id, c.search_vector FROM kb_chunk c"  # noqa: S608
        f" WHERE c.kb_id = %s AND c.search_vector @@ {match_sql}{where} LIMIT %s),"
        f" r AS (SELECT c.id, length(c.search_vector)::float8 AS dl, {', '.join(columns)} FROM m c),"
        f" s AS (SELECT r.*, avg(r.dl) OVER () AS avgdl, count(*) OVER () AS matched, {', '.join(counts)} FROM r)"
        f" SELECT s.id, coalesce({score_sql}, 0) AS score, {ideal_sql} AS ideal FROM s"
        " ORDER BY score DESC, s.id LIMIT %s"
    )
    sql_params = [str(kb_id), *match_params, *params, cap, *score_params, *idf_params, *idf_params, limit]
    with connection.cursor() as cursor:
        cursor.execute(sql, sql_params)
        rows = cursor.fetchall()
    hits = {cid: (rank, float(score)) for rank, (cid, score, _) in enumerate(rows, start=1)}
    return hits, (float(rows[0][2]) if rows else None)
