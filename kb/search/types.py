"""Shapes of search: modes, metrics, the error and the result row (its knobs are SEARCH_* in settings.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from privexbot.errors import ServiceError

MODES = ("hybrid", "vector", "keyword")
FUSIONS = ("rrf", "weighted", "dbsf")
# KB config value -> (canonical metric, pgvector distance operator). Aliases follow common vector-store names;
# migration 0003's kb_distance_metric() maps the same aliases when it files a chunk under a metric.
METRICS = {
    "cosine": ("cosine", "<=>"),
    "euclidean": ("euclidean", "<->"),
    "l2": ("euclidean", "<->"),
    "dot": ("dot", "<#>"),
    "ip": ("dot", "<#>"),
    "inner_product": ("dot", "<#>"),
    "dot_product": ("dot", "<#>"),
}


class SearchError(ServiceError, ValueError):
    """A request the selector cannot serve (bad mode, filter or KB configuration); safe to show to the caller.
    The API shows it as a validation error on "filters"."""

    def __init__(self, message: str):
        super().__init__("validation_error", message, details={"filters": [message]})


@dataclass
class KeywordLeg:
    """The keyword leg's answer. hits: chunk id -> (1-based rank, score), best first; ideal: the query's ideal
    score (weighted fusion's scale; None for web-search syntax); pages: document id -> (rank, page score, its best
    matching chunk) when page evidence was asked for (kb.search.pages); documents: chunk id -> document id for the
    hits and the pages' best chunks (the bm25 ranking reads them anyway; other rankings leave it empty)."""

    hits: dict[int, tuple[int, float]] = field(default_factory=dict)
    ideal: float | None = None
    pages: dict[str, tuple[int, float, int]] = field(default_factory=dict)
    documents: dict[int, str] = field(default_factory=dict)


@dataclass
class SearchResult:
    """One ranked chunk. `score` is the mode's score (fused for hybrid); each leg's rank (1-based) and score are
    None when that leg did not return the chunk."""

    chunk_id: int
    content: str
    document_id: str
    document_name: str
    document_url: str
    source_type: str
    page: int | None
    heading_path: list[str]
    metadata: dict[str, Any]
    score: float
    rank: int = 0
    vector_rank: int | None = None
    vector_score: float | None = None
    vector_distance: float | None = None
    keyword_rank: int | None = None
    keyword_score: float | None = None
    # page evidence (a term-like hybrid query, kb.search.pages): the rank and BM25 score of the chunk's document
    page_rank: int | None = None
    page_score: float | None = None
    # group_by=document: the document's other matching chunks (best first), up to chunks_per_document - 1
    document_chunks: list[SearchResult] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    context: str = ""  # the chunk's context line (title > headings), embedded and keyword-indexed with it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
