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

from kb.search.pages import PageStats
from kb.search.pages import ctes as page_ctes
from kb.search.types import KeywordLeg

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
    pages: PageStats | None = None,
) -> KeywordLeg:  # fmt: skip
    """The ranked chunks (hits, best first), the query's ideal score and each hit's document. `frequencies`: each
    lexeme's and phrase's chunks in this KB (keyword.document_frequencies); `quote`: a lexeme -> its tsquery text
    (keyword.lexeme_query: one quoting rule). With `pages`, the same statement also scores the matched rows'
    documents (kb.search.pages) and returns the best `pages.limit` of them."""
    k1, b = float(settings.SEARCH_KEYWORD_BM25_K1), float(settings.SEARCH_KEYWORD_BM25_B)
    phrase_weight = float(settings.SEARCH_KEYWORD_PHRASE_WEIGHT)  # keyword.search passes no phrases at weight 0
    tf_scale = 1.0 / (body_weight * TS_RANK_ONE)
    columns, column_params, terms = [], [], []  # terms: (column, key, weight)
    for i, lex in enumerate(lexemes):
        columns.append(f"ts_rank({weights}, c.search_vector, %s::tsquery, 0) * {tf_scale!r} AS f{i}")
        column_params.append(quote(lex))
        terms.append((f"f{i}", lex, 1.0))
    for j, phrase in enumerate(phrase_queries):
        columns.append(f"(c.search_vector @@ %s::tsquery)::int::float8 AS p{j}")
        column_params.append(phrase)
        terms.append((f"p{j}", phrase, phrase_weight))
    chunk_weights = [w * idf(frequencies[key], kb_rows) for _, key, w in terms]
    norm = f"{k1!r} * (1 - {b!r} + {b!r} * s.dl / NULLIF(s.avgdl, 0))"
    score_sql = " + ".join(f"%s * s.{name} * {k1 + 1!r} / NULLIF(s.{name} + {norm}, 0)" for name, _, _ in terms)
    sql = (
        "WITH m AS MATERIALIZED (SELECT c.id, c.document_id, c.search_vector FROM kb_chunk c"  # noqa: S608
        f" WHERE c.kb_id = %s AND c.search_vector @@ {match_sql}{where} LIMIT %s),"
        f" r AS (SELECT c.id, c.document_id, length(c.search_vector)::float8 AS dl, {', '.join(columns)} FROM m c),"
        " s AS (SELECT r.*, avg(r.dl) OVER () AS avgdl FROM r),"
        f" k AS (SELECT s.id, s.document_id, coalesce({score_sql}, 0) AS score FROM s)"
    )
    sql_params = [str(kb_id), *match_params, *params, cap, *column_params, *chunk_weights]
    chunks_sql = "SELECT k.id, k.document_id, k.score, 0 FROM k ORDER BY k.score DESC, k.id LIMIT %s"
    if pages is None:
        sql += f" {chunks_sql}"
        sql_params.append(limit)
    else:
        page_b = float(settings.SEARCH_PAGE_BM25_B)
        sql += "," + page_ctes([name for name, _, _ in terms], k1=k1, b=page_b, mean_length=pages.mean_length)
        sql += f" ({chunks_sql}) UNION ALL"  # noqa: S608
        sql += " SELECT b.id, pg.document_id, pg.score, 1 FROM pg JOIN b ON b.document_id = pg.document_id"
        sql_params += [w * idf(pages.frequencies[key], pages.documents) for _, key, w in terms]
        sql_params += [pages.limit, limit]
    with connection.cursor() as cursor:
        cursor.execute(sql, sql_params)
        rows = cursor.fetchall()
    leg = KeywordLeg(ideal=sum(chunk_weights) * (k1 + 1))  # every term saturated: the bound of any chunk's score
    # each branch's order again here: UNION ALL promises none (ties by chunk id, pages' by document id)
    for cid, document_id, score, is_page in sorted(rows, key=lambda r: (r[3], -r[2], r[0] if not r[3] else str(r[1]))):
        leg.documents[cid] = str(document_id)
        if is_page:
            leg.pages[str(document_id)] = (len(leg.pages) + 1, float(score), cid)
        else:
            leg.hits[cid] = (len(leg.hits) + 1, float(score))
    return leg
