"""Page evidence for term-like queries: BM25 over whole documents, from the chunks the keyword leg matched.

Why: a term that a page mentions across many of its sections (an option, an API name) makes that page the answer,
but chunk-level BM25 sees one chunk at a time, and on the judged term sets of tests/bench/bench_retrieval.py the
product stayed below a plain BM25 over whole pages (issue 17). tests/bench/retrieval_page_fusion.py measured what
a page-level signal fused into hybrid search gives; this is that signal, computed in the keyword leg's one SQL
statement (kb.search.bm25) from the rows it already reads, so it costs no extra round trip.

Per document d and query term t (a lexeme, or a compound word's phrase as in bm25):
    idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)), summed over the terms
- tf: the sum over d's matched chunks of the chunk's tf (bm25's: ts_rank scaled so one body occurrence is 1, the
  context line at the heading weight; a phrase counts the chunks holding it);
- dl: d's token count (kb_document.token_count, what its chunks hold); avgdl: the KB's mean over its documents;
- idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5)), N the KB's documents with chunks, df those holding t: counted with
  the chunk counts (keyword.document_frequencies) for rare terms, estimated for common ones (estimated_documents);
- k1 is the chunk leg's (SEARCH_KEYWORD_BM25_K1), b is SEARCH_PAGE_BM25_B (pages vary in length far more than
  chunks do; 0.5 measured best on the tuning halves, 0.75 and 0.3 lower).

The selector fuses each page's score into every candidate chunk of that page (kb.search.fusion.with_pages) at
SEARCH_TERM_PAGE_WEIGHT for a term-like query; each page's best matching chunk joins the candidates, so a page the
chunk legs missed can still be cited by its best passage.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PageStats:
    """What the page score needs besides the matched rows: the KB's documents with chunks, their mean token count,
    each term's documents in the KB (key as in bm25.search: a lexeme or a phrase tsquery), pages to return."""

    documents: float
    mean_length: float
    frequencies: dict[str, float] = field(default_factory=dict)
    limit: int = 40


def estimated_documents(chunks_holding: float, *, chunks: float, documents: float) -> float:
    """Documents holding a term, from the chunks that do, as if the term fell on chunks at random:
    N * (1 - (1 - f) ^ (chunks per document)), f the share of chunks holding it. For a term too common to count
    (keyword.document_frequencies); a real term clusters on fewer pages, so this errs towards a lower idf."""
    if documents <= 0 or chunks <= 0:
        return 0.0
    share = min(max(chunks_holding / chunks, 0.0), 1.0)
    return documents * (1.0 - (1.0 - share) ** (chunks / documents))


def ctes(terms: list[str], *, k1: float, b: float, mean_length: float) -> str:
    """The statement's page part: per-document sums of the chunk tf columns named in `terms` (of CTE r, beside
    r.document_id), the best pages by their score (CTE pg: document_id, score; one %s for how many) and each one's
    best chunk (CTE b, of CTE k: id, document_id, score). One %s per term first, in order: its idf (times the phrase
    weight for a phrase). The length is read per page by its key (a scalar subquery: a join scanned the whole
    document table), and only the best pages look for their best chunk: the part costs ~2 ms on 2,000 matched rows."""
    sums = ", ".join(f"sum(r.{name}) AS {name}" for name in terms)
    norm = f"{k1!r} * (1 - {b!r} + {b!r} * g.dl / {max(mean_length, 1.0)!r})"
    score = " + ".join(f"%s * g.{name} * {k1 + 1!r} / NULLIF(g.{name} + {norm}, 0)" for name in terms)
    return (
        f" t AS (SELECT r.document_id, {sums} FROM r GROUP BY r.document_id),"  # noqa: S608 - names are ours
        " g AS MATERIALIZED (SELECT t.*,"  # materialized: the length is read once per page, not once per term
        " (SELECT d.token_count FROM kb_document d WHERE d.id = t.document_id)::float8 AS dl FROM t),"
        f" pg AS MATERIALIZED (SELECT g.document_id, coalesce({score}, 0) AS score FROM g"
        " ORDER BY score DESC, g.document_id LIMIT %s),"
        " b AS (SELECT DISTINCT ON (k.document_id) k.document_id, k.id FROM k"
        " WHERE k.document_id IN (SELECT document_id FROM pg) ORDER BY k.document_id, k.score DESC, k.id)"
    )
