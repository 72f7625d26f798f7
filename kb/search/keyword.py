"""The keyword leg: PostgreSQL full text in the KB's language over the GIN index chunk_search_gin.

Query syntax is websearch_to_tsquery's. A query that uses it ("quoted phrase", -exclude, or) is matched
exactly as written and ranked with ts_rank_cd. A plain question is matched on any of its terms and ranked
by the measured default, "idf" (see tests/bench/bench_search.py): per-term ts_rank weighted by an inverse
document frequency read from the planner's statistics of the tsvector column, which PostgreSQL's own ranks
lack. Ranking reads every matched row once per query term, so a plain query ranks at most
SEARCH_KEYWORD_RANK_BUDGET / terms rows: when its terms would match more, rows are selected by the rarest
terms (those that can score highest); the other terms still score them. Ranking every chunk that says
"django" is what makes an any-term query slow on a large table.

Headings count more than body text: a chunk's heading path (page title > section > subsection) is what the
chunk is about, and a question usually names that topic. The write path stores
kb_search_vector(lang, context, content) (kb migration 0012: the context line at weight B, the content at D;
both through kb_keyword_text, which splits dotted names, as every query here is), so heading
terms also select rows, and every ranking here passes the weights {D 0.1, C 0.2, B heading weight, A 1.0}:
SEARCH_KEYWORD_HEADING_WEIGHT (default 0.4, ts_rank's own B weight: a heading term is worth four body
occurrences; 0.1 = headings count as body text).
Chosen on the Django-docs dev question set, checked on the held-out FAQ set (tests/bench/bench_search.py).

Page evidence (SEARCH_KEYWORD_DOCUMENT_WEIGHT, off by default): a chunk also scores its document's best per-term
scores among the matched rows. Measured on the sphinx_terms tuning half (tests/bench/bench_retrieval.py) it lowered
hybrid nDCG@10 (0.757 -> 0.733 with dbsf), so it stays off until a question set says otherwise. The page evidence
that ships is another signal: BM25 over whole pages for term-like hybrid queries (kb.search.pages).
"""

from __future__ import annotations

import math
import re

from django.conf import settings
from django.db import connection

from kb.search import bm25, pages, stats
from kb.search.types import KeywordLeg

EXPLICIT_SYNTAX = re.compile(r'"|(^|\s)-\w|\s+or\s+', re.IGNORECASE)
RANKINGS = ("bm25", "idf", "ts_rank", "ts_rank_cd")


def lexeme_query(lexeme: str) -> str:
    """A tsquery (text form) matching one already-normalised lexeme."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def _term_frequencies() -> tuple[dict[str, float], float]:
    """Fraction of chunks holding each common lexeme, and a floor for the rest (ANALYZE's statistics)."""
    return stats.cached("term frequencies", _read_term_frequencies)


def _read_term_frequencies() -> tuple[dict[str, float], float]:
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
    return freqs, floor


def idf(fraction: float) -> float:
    fraction = min(max(fraction, 1e-6), 1.0)
    return math.log(1.0 + (1.0 - fraction) / fraction)  # BM25's idf with n/N = fraction


BODY_WEIGHT = 0.1  # ts_rank's weight D: the content


def heading_weight() -> float:
    return float(settings.SEARCH_KEYWORD_HEADING_WEIGHT)  # 0..1, checked in settings.py


def weights_sql() -> str:
    """ts_rank's weight array {D, C, B, A} with B (the stored heading path) at SEARCH_KEYWORD_HEADING_WEIGHT."""
    return f"'{{{BODY_WEIGHT}, 0.2, {heading_weight():g}, 1.0}}'::float4[]"


def search(
    *, kb_id, language: str, query: str, limit: int, where: str, params: list, page_limit: int = 0
) -> KeywordLeg:
    """The ranked chunks ({chunk id: (rank, score)} best first) and the query's ideal score: that of a chunk that
    had every query term at full heading weight (sum of idf * max(heading weight, body weight)): weighted
    fusion divides by it to put keyword scores on an absolute 0..1 scale. None for web-search syntax queries
    (ranked by ts_rank_cd, which has no such bound). page_limit > 0: also the best that many documents by page
    evidence (kb.search.pages; the bm25 ranking of a plain query only)."""
    ranking = settings.SEARCH_KEYWORD_RANKING
    norm = int(settings.SEARCH_KEYWORD_NORMALIZATION)
    weights = weights_sql()
    if EXPLICIT_SYNTAX.search(query):
        q_sql, q_params = "websearch_to_tsquery(%s::regconfig, kb_keyword_text(%s))", [language, query]
        return KeywordLeg(hits=_run(
            kb_id, f"ts_rank_cd({weights}, c.search_vector, {q_sql}, {norm})", q_params, q_sql, q_params, limit,
            where, params,
        ))  # fmt: skip
    # the phrases of the query's compound words (bm25 only) come in the same statement as its lexemes
    words = bm25.compound_words(query) if ranking == "bm25" and float(settings.SEARCH_KEYWORD_PHRASE_WEIGHT) else []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT tsvector_to_array(to_tsvector(%s::regconfig, kb_keyword_text(%s))), {bm25.PHRASES_SQL}",
            [language, query, language, words],
        )
        found, phrase_found = cursor.fetchone()
        lexemes = sorted(found or [])
    if not lexemes:
        return KeywordLeg()
    any_term = " | ".join(lexeme_query(lex) for lex in lexemes)
    if ranking in ("ts_rank", "ts_rank_cd"):
        return KeywordLeg(hits=_run(kb_id, f"{ranking}({weights}, c.search_vector, %s::tsquery, {norm})", [any_term],
                                    "%s::tsquery", [any_term], limit, where, params))  # fmt: skip
    freqs, floor = _term_frequencies()
    fractions = {lex: freqs.get(lex, floor) for lex in lexemes}
    if ranking == "bm25":
        return _bm25(kb_id, bm25.phrases(phrase_found), lexemes, fractions, any_term, limit, where, params, page_limit)
    score, score_params = _idf_score(lexemes, fractions, weights, norm)
    document_weight = float(settings.SEARCH_KEYWORD_DOCUMENT_WEIGHT)
    # length normalisation (norm != 0) makes the bound chunk-dependent: no ideal then
    ideal = None if norm else sum(idf(f) for f in fractions.values()) * max(heading_weight(), BODY_WEIGHT)
    if ideal is not None:
        ideal *= 1.0 + document_weight  # the chunk's own terms and, at most as much again, its page's
    cap = rows_to_rank(len(lexemes), limit)
    selective = selecting_terms(fractions, kb_rows=stats.kb_rows(kb_id), cap=cap)
    run = _run_with_document if document_weight > 0 else _run
    extra = (document_weight,) if document_weight > 0 else ()
    if len(selective) < len(lexemes):
        query_sql = " | ".join(lexeme_query(lex) for lex in selective)
        hits = run(kb_id, score, score_params, "%s::tsquery", [query_sql], limit, where, params, cap, *extra)
        if len(hits) >= limit:
            return KeywordLeg(hits=hits, ideal=ideal)
    return KeywordLeg(
        hits=run(kb_id, score, score_params, "%s::tsquery", [any_term], limit, where, params, cap, *extra), ideal=ideal
    )


def _bm25(kb_id, phrase_queries, lexemes, fractions, any_term, limit, where, params, page_limit):
    """The bm25 ranking (kb.search.bm25): matched like the idf ranking (rarest terms first within the rank
    budget, all terms when those match too few rows), phrases of compound words scored beside the terms; with
    page_limit, page evidence from the same rows (kb.search.pages)."""
    cap = rows_to_rank(len(lexemes) + len(phrase_queries), limit)
    kb_rows = stats.kb_rows(kb_id)
    queries = {lex: lexeme_query(lex) for lex in lexemes} | {phrase: phrase for phrase in phrase_queries}
    # a phrase is at most as frequent as its rarest part
    estimates = fractions | {
        p: min((f for lex, f in fractions.items() if lexeme_query(lex) in p), default=1.0) for p in phrase_queries
    }
    documents, mean_length = _kb_pages(kb_id) if page_limit > 0 else (0.0, 0.0)
    counts = document_frequencies(kb_id, queries, estimates, kb_rows=kb_rows, documents=documents)
    page_stats = None
    if page_limit > 0:
        holding = {k: d for k, (_, d) in counts.items()}
        page_stats = pages.PageStats(  # the cached document count may lag a term's fresh count: never below it
            documents=max(documents, *holding.values()), mean_length=mean_length, frequencies=holding,
            limit=page_limit,
        )  # fmt: skip
    common = dict(
        kb_id=kb_id, lexemes=lexemes, phrase_queries=phrase_queries, kb_rows=kb_rows, cap=cap, weights=weights_sql(),
        body_weight=BODY_WEIGHT, limit=limit, where=where, params=params, quote=lexeme_query,
        frequencies={k: c for k, (c, _) in counts.items()}, pages=page_stats,
    )  # fmt: skip
    selective = selecting_terms(fractions, kb_rows=kb_rows, cap=cap)
    if len(selective) < len(lexemes):
        query_sql = " | ".join(lexeme_query(lex) for lex in selective)
        leg = bm25.search(**common, match_sql="%s::tsquery", match_params=[query_sql])
        if len(leg.hits) >= limit:
            return leg
    return bm25.search(**common, match_sql="%s::tsquery", match_params=[any_term])


def document_frequencies(
    kb_id, queries: dict[str, str], estimates: dict[str, float], *, kb_rows: int, documents: float = 0.0
) -> dict[str, tuple[float, float]]:
    """key -> (how many of this KB's chunks match queries[key] (a tsquery text), how many of its documents do). A
    key the whole table holds in at most SEARCH_KEYWORD_EXACT_DF_ROWS rows by the statistics (`estimates`: its
    fraction of the table) is counted in the KB, all such keys in one statement over the GIN index, and kept like
    the statistics; a more common one is estimated: its table fraction times the KB's rows, and from that its
    share of the KB's `documents` (pages.estimated_documents; a count would read every row holding it)."""
    limit = int(settings.SEARCH_KEYWORD_EXACT_DF_ROWS)
    table = _table_rows()
    out, count = {}, {}
    for key, query in queries.items():
        if estimates[key] * table > limit:
            chunks = estimates[key] * kb_rows
            out[key] = (chunks, pages.estimated_documents(chunks, chunks=kb_rows, documents=documents))
        elif (cached := stats.fresh(f"df {kb_id} {key}"))[0]:
            out[key] = cached[1]
        else:
            count[key] = query
    if count:
        keys = list(count)
        filters = ", ".join(
            "count(*) FILTER (WHERE search_vector @@ %s::tsquery),"
            " count(DISTINCT document_id) FILTER (WHERE search_vector @@ %s::tsquery)"
            for _ in keys
        )
        any_of = " | ".join(f"({q})" for q in count.values())
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {filters} FROM kb_chunk WHERE kb_id = %s AND search_vector @@ %s::tsquery",  # noqa: S608
                [*(q for q in count.values() for _ in (0, 1)), str(kb_id), any_of],
            )
            counted = cursor.fetchone()
        for i, key in enumerate(keys):
            out[key] = (float(counted[2 * i]), float(counted[2 * i + 1]))
            stats.keep(f"df {kb_id} {key}", out[key])
    return out


def _table_rows() -> float:
    """The chunk table's rows by the planner's estimate (what the statistics' fractions are of)."""

    def read() -> float:
        with connection.cursor() as cursor:
            cursor.execute("SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'kb_chunk'::regclass")
            return float(cursor.fetchone()[0])

    return stats.cached("table rows", read)


def _idf_score(lexemes, fractions, weights, norm) -> tuple[list[str], list]:
    """Per-term score expressions (idf * ts_rank of that term alone) and their parameters."""
    terms = [f"%s * ts_rank({weights}, c.search_vector, %s::tsquery, {norm})" for _ in lexemes]
    return terms, [p for lex in lexemes for p in (idf(fractions[lex]), lexeme_query(lex))]


def rows_to_rank(terms: int, limit: int) -> int:
    """How many matching rows a plain query ranks: SEARCH_KEYWORD_RANK_BUDGET term evaluations shared by the
    query's terms (each row costs one ts_rank per term), within [limit, SEARCH_KEYWORD_MAX_MATCHES]."""
    budget = int(settings.SEARCH_KEYWORD_RANK_BUDGET)
    return max(limit, min(int(settings.SEARCH_KEYWORD_MAX_MATCHES), budget // max(1, terms)))


def selecting_terms(fractions: dict[str, float], *, kb_rows: int, cap: int) -> list[str]:
    """The terms whose matches get ranked: all of them when their expected matches fit in `cap` rows;
    otherwise the rarest ones (highest idf, so the rows that can score highest) whose expected matches fit,
    at least one, and never a term in more than SEARCH_KEYWORD_COMMON_FRACTION of the chunks (common terms
    still score the rows that are ranked)."""
    ordered = sorted(fractions, key=lambda lex: (fractions[lex], lex))
    if sum(fractions.values()) * kb_rows <= cap:
        return ordered
    common = float(settings.SEARCH_KEYWORD_COMMON_FRACTION)
    chosen, expected = [], 0.0
    for lex in ordered:
        if chosen and (fractions[lex] > common or expected + fractions[lex] * kb_rows > cap):
            break
        chosen.append(lex)
        expected += fractions[lex] * kb_rows
    return chosen


def _kb_pages(kb_id) -> tuple[float, float]:
    """(the KB's documents with chunks, their mean token count), cached like its chunk count."""

    def read() -> tuple[float, float]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), coalesce(avg(token_count), 0) FROM kb_document WHERE kb_id = %s AND chunk_count > 0",
                [str(kb_id)],
            )
            documents, mean = cursor.fetchone()
            return float(documents), float(mean)

    return stats.cached(f"kb pages {kb_id}", read)


def _run_with_document(kb_id, terms, score_params, match_sql, match_params, limit, where, params, cap, weight):
    """Like _run, with page evidence: a chunk scores its own terms plus `weight` times its document's, where the
    document's score of a term is its best chunk's (among the matched rows) for that term. A question's words are
    often spread over a page's sections; the chunk of the page that covers them all then outranks a chunk that
    repeats one of them elsewhere (SEARCH_KEYWORD_DOCUMENT_WEIGHT)."""
    columns = ", ".join(f"{term} AS t{i}" for i, term in enumerate(terms))
    own = " + ".join(f"s.t{i}" for i in range(len(terms)))
    page = " + ".join(f"max(s.t{i}) OVER d" for i in range(len(terms)))
    sql = (
        "WITH m AS MATERIALIZED (SELECT c.id, c.document_id, c.search_vector FROM kb_chunk c"  # noqa: S608
        f" WHERE c.kb_id = %s AND c.search_vector @@ {match_sql}{where} LIMIT %s),"
        f" s AS (SELECT c.id, c.document_id, {columns} FROM m c)"
        f" SELECT s.id, ({own}) + %s * ({page}) AS score FROM s WINDOW d AS (PARTITION BY s.document_id)"
        " ORDER BY score DESC, s.id LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [str(kb_id), *match_params, *params, cap, *score_params, weight, limit])
        rows = cursor.fetchall()
    return {cid: (rank, float(score)) for rank, (cid, score) in enumerate(rows, start=1)}


def _run(kb_id, score_sql, score_params, match_sql, match_params, limit, where, params, cap=None):
    # Ranking reads every matching tsvector: a query made only of terms that half the KB contains would rank
    # tens of thousands of rows. `cap` (default SEARCH_KEYWORD_MAX_MATCHES) bounds that work: rows past it are
    # not ranked, which is why plain queries match on their rarest terms first (selecting_terms).
    if isinstance(score_sql, list):  # per-term expressions (_idf_score): their sum
        score_sql = " + ".join(score_sql)
    cap = cap or int(settings.SEARCH_KEYWORD_MAX_MATCHES)
    sql = (
        "WITH m AS MATERIALIZED (SELECT c.id, c.search_vector FROM kb_chunk c"  # noqa: S608
        f" WHERE c.kb_id = %s AND c.search_vector @@ {match_sql}{where} LIMIT %s)"
        f" SELECT c.id, {score_sql} AS score FROM m c ORDER BY score DESC, c.id LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [str(kb_id), *match_params, *params, cap, *score_params, limit])
        rows = cursor.fetchall()
    return {cid: (rank, float(score)) for rank, (cid, score) in enumerate(rows, start=1)}
