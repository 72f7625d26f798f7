"""The KB page of a big KB (issue 16): render time and query count of the full page, its HTMX poll, a filtered
page and a late page, for KBs of 100, 1,000 and 10,000 documents (bulk-created rows, no worker), through the
test client with a logged-in owner. Prints the median of --rounds renders.

Run: .venv/bin/python tests/bench/bench_kb_page.py [--rounds 9] [--sizes 100,1000,10000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.bench._setup import bench_user_and_workspace, django_setup, machine  # noqa: E402

STATUSES = ["ready"] * 8 + ["failed", "quarantined"]
SOURCES = ["file_upload", "website_crawl", "text_input", "file_upload"]


def build_kb(user, workspace, size: int):
    from kb.models import Document, KnowledgeBase

    name = f"page bench {size}"
    kb = KnowledgeBase.objects.filter(workspace=workspace, name=name).first()
    if kb is not None and kb.documents.count() == size:
        return kb
    if kb is not None:
        kb.delete()  # a bench database only: rows made by this script
    kb = KnowledgeBase.objects.create(workspace=workspace, name=name, created_by=user)
    Document.objects.bulk_create(
        (
            Document(
                kb=kb, name=f"{'Manual' if i % 5 == 0 else 'Page'} {i:05d}", source_type=SOURCES[i % 4],
                status=STATUSES[i % 10], progress=100, chunk_count=3, token_count=120,
            )
            for i in range(size)
        ),
        batch_size=2000,
    )  # fmt: skip
    return kb


def measure(client, url: str, rounds: int, **extra) -> tuple[float, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url, **extra)  # warm
    took = []
    for _ in range(rounds):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url, **extra)
            took.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(took) * 1000, len(queries), len(response.content)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--sizes", default="100,1000,10000")
    args = parser.parse_args()
    django_setup("privexbot_bench_kb_page")
    from django.conf import settings
    from django.test import Client

    settings.ALLOWED_HOSTS = ["*"]
    user, workspace = bench_user_and_workspace()
    client = Client()
    client.force_login(user)
    print(machine())
    print(f"{'documents':>9}  {'view':<26} {'median ms':>9} {'queries':>7} {'bytes':>8}")
    for size in [int(s) for s in args.sizes.split(",")]:
        kb = build_kb(user, workspace, size)
        base = f"/kb/{kb.pk}/"
        last = max(1, -(-size // 50))
        views = {
            "full page": (base, {}),
            "HTMX poll (partial)": (base, {"HTTP_HX_REQUEST": "true"}),
            "filtered q=manual&status=": (f"{base}?q=manual&status=ready", {}),
            f"last page ({last})": (f"{base}?page={last}", {}),
        }
        for label, (url, extra) in views.items():
            ms, queries, size_bytes = measure(client, url, args.rounds, **extra)
            print(f"{size:>9}  {label:<26} {ms:>9.1f} {queries:>7} {size_bytes:>8}")


if __name__ == "__main__":
    main()
