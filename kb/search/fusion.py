"""Fusing the ranked lists of the two legs. Pure functions over {chunk_id: (rank, score)}.

Three ways (SEARCH_FUSION, or the caller's fusion_method): weighted rank fusion (rrf: per-leg weights, k), weighted
score fusion on absolute scores (weighted), and distribution-based score fusion (dbsf: each leg's scores rescaled by
their own mean and spread for this query). Two adjustments apply to any of them, per query: the vector share of a
term-like query (term_like: a few words, no question) and the keyword leg's confidence (keyword_confidence: how close
its best match comes to the query's ideal), which takes weight from a keyword leg that matched only weakly. And one
more signal for a term-like query: its pages' BM25 (kb.search.pages), added to each candidate chunk by with_pages.
"""

from __future__ import annotations

import math
import re

Leg = dict[int, tuple[int, float]]  # chunk id -> (1-based rank, leg score)

QUESTION_WORDS = frozenset({
    "how", "what", "why", "when", "where", "which", "who", "whom", "whose", "can", "could", "should", "would", "does",
    "do", "did", "is", "are", "was", "were", "will", "shall", "may", "might", "must",
})  # fmt: skip


def rrf(legs: list[Leg], *, k: int, weights: list[float] | None = None) -> dict[int, float]:
    """Reciprocal rank fusion (Cormack et al. 2009): sum over legs of weight / (k + rank)."""
    weights = weights or [1.0] * len(legs)
    fused: dict[int, float] = {}
    for leg, weight in zip(legs, weights, strict=True):
        for chunk_id, (rank, _) in leg.items():
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (k + rank)
    return fused


def min_max(leg: Leg) -> dict[int, float]:
    """Scores rescaled to 0..1 within the leg's candidates (all equal -> 1), so legs on different scales add up."""
    if not leg:
        return {}
    scores = [score for _, score in leg.values()]
    low, high = min(scores), max(scores)
    span = high - low
    return {cid: (score - low) / span if span > 0 else 1.0 for cid, (_, score) in leg.items()}


def by_scale(leg: Leg, scale: float | None) -> dict[int, float]:
    """Scores divided by `scale` (the leg's best possible score), clipped to 0..1; no scale: by the best score
    the leg returned. Unlike min-max, the weakest candidate keeps its distance from zero, so a leg whose best
    match is poor stays poor after normalising."""
    if not leg:
        return {}
    scale = scale if scale and scale > 0 else max(score for _, score in leg.values())
    if scale <= 0:
        return {cid: 0.0 for cid in leg}
    return {cid: min(1.0, max(0.0, score / scale)) for cid, (_, score) in leg.items()}


def weighted(
    legs: list[Leg], *, weights: list[float], scales: list[float | None] | None = None, relative: bool = False
) -> dict[int, float]:
    """Weighted score fusion: sum over legs of weight * normalised score; a chunk missing from a leg gets 0 there.
    Absolute (default): each score over its leg's scale (see by_scale). relative=True: min-max within the
    leg's candidates (relative score fusion)."""
    scales = scales or [None] * len(legs)
    fused: dict[int, float] = {}
    for leg, weight, scale in zip(legs, weights, scales, strict=True):
        normalised = min_max(leg) if relative else by_scale(leg, scale)
        for chunk_id, norm in normalised.items():
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight * norm
    return fused


def distribution(leg: Leg) -> dict[int, float]:
    """Scores rescaled to 0..1 between mean - 3 sigma and mean + 3 sigma of the leg's candidates for this query
    (distribution-based score fusion, as Qdrant's DBSF): a leg's scale is read from its own spread, so a leg whose
    scores bunch together (no candidate stands out) contributes little difference between its candidates."""
    if not leg:
        return {}
    scores = [score for _, score in leg.values()]
    mean = sum(scores) / len(scores)
    sigma = math.sqrt(sum((x - mean) ** 2 for x in scores) / len(scores))
    if sigma <= 0:  # one candidate is a finding; many with one score say nothing about which is better
        return {cid: 1.0 if len(leg) == 1 else 0.0 for cid in leg}
    low = mean - 3 * sigma
    return {cid: min(1.0, max(0.0, (score - low) / (6 * sigma))) for cid, (_, score) in leg.items()}


def dbsf(legs: list[Leg], *, weights: list[float]) -> dict[int, float]:
    """Distribution-based score fusion: sum over legs of weight * distribution(leg); a chunk missing from a leg
    gets 0 there."""
    fused: dict[int, float] = {}
    for leg, weight in zip(legs, weights, strict=True):
        for chunk_id, norm in distribution(leg).items():
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight * norm
    return fused


def with_pages(
    fused: dict[int, float], pages: dict[str, tuple[int, float, int]], document_of: dict[int, str], *, share: float,
    method: str, k: int,
) -> dict[int, float]:  # fmt: skip
    """`fused` (the chunk legs' fusion, already scaled to 1 - share) plus share * the page score of a document on
    its best candidate chunk, the page score normalised as `method` normalises a leg: dbsf by the pages' own spread
    (distribution), rrf as 2 / (k + page rank) like a leg at full weight, weighted by the best page (by_scale).
    Only the best chunk of a page gets it: grouped by page, this is page-level fusion (a page ranks by its best
    passage plus its page evidence), and the page's other chunks do not crowd the top of a chunk list (lifting them
    all lowered nDCG@10 of every judged set but one). A page with no candidate chunk brings its best matching one
    (pages: document -> (rank, score, best chunk)), so a page found only by its page score is still cited."""
    if not pages or share <= 0:
        return fused
    leg = {document: (rank, score) for document, (rank, score, _) in pages.items()}
    if method == "rrf":
        normalised = {document: 2.0 / (k + rank) for document, (rank, _) in leg.items()}
    elif method == "dbsf":
        normalised = distribution(leg)
    else:
        normalised = by_scale(leg, None)
    out = dict(fused)
    best_of: dict[str, int] = {}  # document -> its best candidate chunk (ties: the lower id, as `ranked` orders)
    for chunk_id, _ in ranked(out):
        document = document_of.get(chunk_id)
        if document in normalised:
            best_of.setdefault(document, chunk_id)
    for document, (_, _, best) in pages.items():
        if document not in best_of:
            best_of[document] = best
            out[best] = 0.0
    for document, chunk_id in best_of.items():
        out[chunk_id] += share * normalised[document]
    return out


def term_like(query: str, *, max_words: int) -> bool:
    """A short query that names a thing rather than asks (an option, an API name, a config key): at most
    `max_words` words, no question mark, not opening with a question word. Exact words find those best."""
    words = re.findall(r"[^\s]+", query.strip())
    if not words or len(words) > max_words or "?" in query:
        return False
    return words[0].lower().strip("\"'(") not in QUESTION_WORDS


def keyword_confidence(leg: Leg, ideal: float | None, *, full_at: float) -> float:
    """0..1: the keyword leg's best score as a share of the query's ideal score, reaching 1 at `full_at` of it.
    A leg that matched only a common word, or one word of many in body text, scores far below its ideal; without
    an ideal (web-search syntax, length-normalised ranks) or with full_at 0 the leg counts fully."""
    if not leg:
        return 0.0
    if not ideal or ideal <= 0 or full_at <= 0:
        return 1.0
    best = max(score for _, score in leg.values())
    return min(1.0, max(0.0, best / ideal / full_at))


def ranked(fused: dict[int, float]) -> list[tuple[int, float]]:
    """Highest score first; ties by chunk id so equal inputs give the same order every time."""
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
