"""Retrieval quality against judged queries: nDCG@k, Recall@k and MRR@k at document (page/URL) level.

A judgments file is JSONL, one query per line:
    {"query": "How do I ...?", "relevant": ["https://site/page.html", {"document": "Guide.pdf", "page": 3}]}
A relevant item is a URL or document name, or an object with "url" or "document" and optionally "page".
Results are the top k chunks; each relevant item earns credit once, at the first chunk that matches it, so ten
chunks of one page count as one hit (what a chatbot's context actually covers).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kb.search.types import SearchResult


@dataclass
class Judged:
    query: str
    relevant: list[dict]


def _normalise_url(url: str) -> str:
    return url.split("#", 1)[0].rstrip("/")


def _item(raw) -> dict:
    if isinstance(raw, str):
        return {"ref": _normalise_url(raw)}
    if isinstance(raw, dict) and (raw.get("url") or raw.get("document")):
        return {"ref": _normalise_url(str(raw.get("url") or raw.get("document"))), "page": raw.get("page")}
    raise ValueError(f"a relevant item must be a URL, a document name or an object with url/document: {raw!r}")


def load_judgments(path: str | Path) -> list[Judged]:
    judged = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            judged.append(Judged(query=str(row["query"]), relevant=[_item(r) for r in row["relevant"]]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: {exc}") from None
    return judged


def matches(result: SearchResult, item: dict) -> bool:
    if item["ref"] not in (_normalise_url(result.document_url or ""), result.document_name):
        return False
    page = item.get("page")
    return page is None or page == result.page or page in (result.metadata.get("pages") or [])


def score_query(results: list[SearchResult], relevant: list[dict], k: int) -> dict[str, float]:
    found: set[int] = set()
    dcg, first = 0.0, 0
    for position, result in enumerate(results[:k], start=1):
        new = [i for i, item in enumerate(relevant) if i not in found and matches(result, item)]
        if new:
            found.update(new)
            dcg += 1.0 / math.log2(position + 1)
            first = first or position
    ideal = sum(1.0 / math.log2(p + 1) for p in range(1, min(len(relevant), k) + 1))
    return {
        "ndcg": dcg / ideal if ideal else 0.0,
        "recall": len(found) / len(relevant) if relevant else 0.0,
        "mrr": 1.0 / first if first else 0.0,
    }


@dataclass
class Report:
    mode: str
    queries: int = 0
    ndcg: float = 0.0
    recall: float = 0.0
    mrr: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    def as_dict(self, k: int) -> dict:
        lat = sorted(self.latencies_ms)
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else 0.0  # noqa: E731
        return {"mode": self.mode, "queries": self.queries, f"ndcg@{k}": round(self.ndcg, 4),
                f"recall@{k}": round(self.recall, 4), f"mrr@{k}": round(self.mrr, 4),
                "p50_ms": round(p(0.5), 1), "p95_ms": round(p(0.95), 1)}  # fmt: skip


def evaluate(search, judged: Iterable[Judged], *, modes: Iterable[str], k: int = 10) -> list[Report]:
    """`search(query, mode, top_k)` -> results; mean of each metric per mode."""
    judged = list(judged)
    reports = []
    for mode in modes:
        report = Report(mode=mode, queries=len(judged))
        for item in judged:
            started = time.perf_counter()
            results = search(item.query, mode, k)
            report.latencies_ms.append((time.perf_counter() - started) * 1000)
            scores = score_query(results, item.relevant, k)
            report.ndcg += scores["ndcg"] / max(1, len(judged))
            report.recall += scores["recall"] / max(1, len(judged))
            report.mrr += scores["mrr"] / max(1, len(judged))
        reports.append(report)
    return reports
