"""What a crawl produces: one PageResult per URL, and a progress snapshot. Both travel as JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from kb.pipeline.types import Element


@dataclass
class PageResult:
    """One fetched (or refused) URL.

    A stored page has elements (a list, possibly empty) and no error/skipped_reason. Otherwise elements is
    None and either error ("HTTP 404", "connection refused", ...) or skipped_reason ("not HTML (image/png)",
    "not matched by include_patterns", ...) says why.
    """

    url: str
    status: int | None
    depth: int
    title: str = ""
    elements: list[Element] | None = None
    error: str | None = None
    skipped_reason: str | None = None
    content_hash: str | None = None  # sha256 of the extracted text, so unchanged pages can be recognised
    # For re-syncs (drafts.sync): the validators a conditional request sends back, the page's same-site links
    # (a 304 has no body to take them from), and whether the server answered 304 Not Modified.
    etag: str | None = None
    last_modified: str | None = None
    links: list[str] | None = None
    not_modified: bool = False

    @property
    def ok(self) -> bool:
        return self.elements is not None

    def to_dict(self) -> dict:
        # Shallow on purpose: elements are already plain JSON data, and asdict's deep copy of them took
        # longer than writing the line.
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict) -> PageResult:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class CrawlProgress:
    """pages_found: distinct URLs queued so far; pages_processed: HTML pages stored (what max_pages counts);
    pages_failed: URLs that ended in an error; pages_skipped: non-HTML, filtered, duplicate or off-site."""

    pages_found: int = 0
    pages_processed: int = 0
    pages_failed: int = 0
    pages_skipped: int = 0
    finished: bool = False
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> CrawlProgress:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
