"""What a re-crawl means for the pages a KB holds: one entry per URL, with its outcome and why (no writes).

Outcomes: added (a new page), changed (its extracted text differs: re-chunked and re-embedded), unchanged (304
Not Modified, or the same content hash), removed / kept (gone: 404/410, no longer a page, or no longer linked
and not in the sitemap; which one follows the source's removed-pages policy), failed (could not be checked).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from drafts.crawler.results import PageResult
from drafts.crawler.urls import url_key
from kb.models import RemovedPagePolicy

OUTCOMES = ("added", "changed", "removed", "kept", "unchanged", "failed")
GONE_STATUSES = (404, 410)


@dataclass
class Entry:
    url: str
    outcome: str
    reason: str
    http_status: int | None = None
    document_id: str | None = None  # the KB's document for this URL, if it has one
    page: dict | None = None  # added / changed (and 200-unchanged): title, elements, content_hash, validators

    def report(self) -> dict:
        row = {"url": self.url, "outcome": self.outcome, "reason": self.reason, "http_status": self.http_status}
        if self.document_id:
            row["document_id"] = self.document_id
        return row


@dataclass
class Plan:
    entries: list[Entry] = field(default_factory=list)

    def of(self, *outcomes: str) -> list[Entry]:
        return [e for e in self.entries if e.outcome in outcomes]

    def counts(self) -> dict[str, int]:
        counted = Counter(e.outcome for e in self.entries)
        return {outcome: counted.get(outcome, 0) for outcome in OUTCOMES}

    def report(self) -> list[dict]:
        return [e.report() for e in self.entries]


def page_of(result: PageResult) -> dict:
    """The parts of a fetched page a document keeps (elements file + metadata)."""
    return {
        "url": result.url,
        "title": result.title,
        "content_hash": result.content_hash,
        "elements": result.elements,
        "etag": result.etag,
        "last_modified": result.last_modified,
        "links": result.links or [],
    }


def plan_sync(
    *, documents: list[dict], results: list[PageResult], policy: str, complete: bool, stopped_because: str = ""
) -> Plan:
    """documents: [{id, url, content_hash}] of the source. `complete`: the crawl ran to its end, so a known page it
    did not reach is no longer linked (and not in the sitemap); otherwise such a page is reported, not removed."""
    gone = "removed" if policy == RemovedPagePolicy.DELETE else "kept"
    by_key: dict[str, dict] = {}
    for document in documents:
        by_key.setdefault(url_key(document["url"]), document)
    plan, reached = Plan(), set()
    for result in results:
        key = url_key(result.url)
        document = by_key.get(key)
        if key in reached:
            continue
        reached.add(key)
        doc_id = str(document["id"]) if document else None
        entry = _entry(result, document, gone)
        if entry is not None:
            entry.document_id = doc_id
            plan.entries.append(entry)
    for key, document in by_key.items():
        if key in reached:
            continue
        if complete:
            entry = Entry(document["url"], gone, "no longer linked and not in the sitemap")
        else:
            entry = Entry(document["url"], "failed", f"not checked: the crawl stopped early ({stopped_because})")
        entry.document_id = str(document["id"])
        plan.entries.append(entry)
    return plan


def _entry(result: PageResult, document: dict | None, gone: str) -> Entry | None:
    url, status = result.url, result.status
    if result.not_modified:
        return Entry(url, "unchanged", "not modified (HTTP 304)", 304) if document else None
    if result.ok:
        if not result.elements:
            return Entry(url, "failed", "no extractable text", status)
        if document is None:
            return Entry(url, "added", "new page", status, page=page_of(result))
        if result.content_hash == document["content_hash"]:
            return Entry(url, "unchanged", "same content hash", status, page=page_of(result))
        return Entry(url, "changed", "content changed", status, page=page_of(result))
    if result.error is not None:
        if document is not None and status in GONE_STATUSES:
            return Entry(url, gone, result.error, status)
        return Entry(url, "failed", result.error, status)
    # Skipped (not HTML any more, a duplicate of another page, blocked by robots.txt, redirected off the site):
    # no longer a page of this KB. A skipped URL the KB never held is not a KB page at all.
    if document is not None:
        return Entry(url, gone, result.skipped_reason or "skipped", status)
    return None
