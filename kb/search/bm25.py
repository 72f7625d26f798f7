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
- idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5)), N the KB's chunks, df the KB's chunks holding t: counted in the KB
  for terms the table holds rarely (keyword.document_frequencies, cached), estimated from the planner's statistics
  for common ones (counting those would cost more than the search; their idf is low either way).
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


PHRASES_SQL = "ARRAY(SELECT phraseto_tsquery(%s::regconfig, kb_keyword_text(w))::text FROM unnest(%s::text[]) w)"


def phrases(found: list[str] | None) -> list[str]:
    """The phrase tsqueries (text) worth scoring among PHRASES_SQL's results for the query's compound words: those
    whose parts PostgreSQL splits into two lexemes or more, each once. keyword.search reads PHRASES_SQL in the
    statement that reads the query's lexemes (one round trip)."""
    return list(dict.fromkeys(q for q in found or [] if q and "<" in q))


def idf(df: float, total: float) -> float:
    return math.log(1.0 + (total - df + 0.5) / (df + 0.5))


def search(
    *, kb_id, lexemes: list[str], phrase_queries: list[str], frequencies: dict[str, float], kb_rows: int, cap: int,
    weights: str, body_weight: float, match_sql: str, match_params: list, limit: int, where: str, params: list, quote,
) -> tuple[dict[int, tuple[int, float]], float]:  # fmt: skip
    """({chunk id: (rank, score)} best first, the query's ideal score). `frequencies`: each lexeme's and phrase's
    chunks in this KB (keyword.document_frequencies); `quote`: a lexeme -> its tsquery text (keyword.lexeme_query:
    one quoting rule)."""
    k1, b = float(settings.SEARCH_KEYWORD_BM25_K1), float(settings.SEARCH_KEYWORD_BM25_B)
    phrase_weight = float(settings.SEARCH_KEYWORD_PHRASE_WEIGHT)  # keyword.search passes no phrases at weight 0
    tf_scale = 1.0 / (body_weight * TS_RANK_ONE)
    columns, column_params, terms = [], [], []  # terms: (column, weight * idf)
    for i, lex in enumerate(lexemes):
        columns.append(f"ts_rank({weights}, c.search_vector, %s::tsquery, 0) * {tf_scale!r} AS f{i}")
        column_params.append(quote(lex))
        terms.append((f"f{i}", idf(frequencies[lex], kb_rows)))
    for j, phrase in enumerate(phrase_queries):
        columns.append(f"(c.search_vector @@ %s::tsquery)::int::float8 AS p{j}")
        column_params.append(phrase)
        terms.append((f"p{j}", phrase_weight * idf(frequencies[phrase], kb_rows)))
    norm = f"{k1!r} * (1 - {b!r} + {b!r} * s.dl / NULLIF(s.avgdl, 0))"
    score_sql = " + ".join(f"%s * s.{name} * {k1 + 1!r} / NULLIF(s.{name} + {norm}, 0)" for name, _ in terms)
    sql = (
        "WITH m AS MATERIALIZED (SELECT c.id, c.search_vector FROM kb_chunk c"  # noqa: S608
        f" WHERE c.kb_id = %s AND c.search_vector @@ {match_sql}{where} LIMIT %s),"
        f" r AS (SELECT c.id, length(c.search_vector)::float8 AS dl, {', '.join(columns)} FROM m c),"
        " s AS (SELECT r.*, avg(r.dl) OVER () AS avgdl FROM r)"
        f" SELECT s.id, coalesce({score_sql}, 0) AS score FROM s ORDER BY score DESC, s.id LIMIT %s"
    )
    sql_params = [str(kb_id), *match_params, *params, cap, *column_params, *(w for _, w in terms), limit]
    with connection.cursor() as cursor:
        cursor.execute(sql, sql_params)
        rows = cursor.fetchall()
    hits = {cid: (rank, float(score)) for rank, (cid, score) in enumerate(rows, start=1)}
    return hits, sum(w for _, w in terms) * (k1 + 1)  # every term saturated: the bound of any chunk's score
