"""What the production instrumentation costs on the search hot path (issue 12): the Prometheus wrapper around
`kb.search.chunk_search` against the bare selector, and one API search request with the metrics and
request-id middlewares against the same request without them — interleaved rounds in one run, one machine.

Run: .venv/bin/python tests/bench/bench_instrumentation.py [--rounds 7] [--calls 40]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.bench._setup import CORPUS, bench_user_and_workspace, django_setup, machine  # noqa: E402

QUERIES = ["how to join paths", "resolve a relative path", "file extension", "normalize separators"]
INSTRUMENTING = {
    "privexbot.log_middleware.RequestIdMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    "privexbot.metrics.middleware.ActiveUsersMiddleware",
}


def build_kb(user, workspace):
    from kb.models import KnowledgeBase
    from kb.pipeline.runner import process
    from kb.services import document_create_from_text

    kb = KnowledgeBase.objects.filter(workspace=workspace, name="instrumentation bench").first()
    if kb is not None:
        return kb
    import kb.services as services

    services._enqueue = lambda ids: None  # processed right here
    kb = KnowledgeBase.objects.create(workspace=workspace, name="instrumentation bench", created_by=user)
    for path in sorted((CORPUS / "md").glob("*.md")):
        doc = document_create_from_text(kb=kb, user=user, title=path.name, content=path.read_text(errors="replace"))
        process(doc.pk)
    return kb


def timed(fn, calls: int) -> float:
    started = time.perf_counter()
    for i in range(calls):
        fn(i)
    return (time.perf_counter() - started) / calls * 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=40)
    args = parser.parse_args()
    django_setup("privexbot_bench")
    print(machine())
    from django.conf import settings
    from django.test import Client, override_settings

    from kb import search
    from kb.search import selector
    from tenants.tokens import api_token_create

    user, workspace = bench_user_and_workspace()
    kb = build_kb(user, workspace)
    from kb.models import Chunk

    print(f"KB: {Chunk.objects.filter(kb=kb).count()} chunks from the corpus Markdown files")
    for mode in ("vector", "keyword", "hybrid"):
        search.chunk_search(kb=kb, query=QUERIES[0], mode=mode)  # warm: model, query embeddings, term stats
    bare, wrapped = [], []
    for _ in range(args.rounds):
        for mode in ("vector", "keyword", "hybrid"):
            bare.append(timed(lambda i, m=mode: selector.chunk_search(kb=kb, query=QUERIES[i % 4], mode=m), args.calls))
            wrapped.append(
                timed(lambda i, m=mode: search.chunk_search(kb=kb, query=QUERIES[i % 4], mode=m), args.calls)
            )
    b, w = statistics.median(bare), statistics.median(wrapped)
    print(f"chunk_search, bare selector:        {b:.3f} ms (median over rounds and modes)")
    print(f"chunk_search, with search metrics:  {w:.3f} ms   ratio {w / b:.3f}")

    token = api_token_create(user=user, name="bench", scopes=["search"])[1]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    url = f"/api/v1/knowledge-bases/{kb.pk}/search"
    client = Client()
    lean = [m for m in settings.MIDDLEWARE if m not in INSTRUMENTING]
    rates = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": dict.fromkeys(
        settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}), "100000/min")}  # fmt: skip

    def api(i):
        response = client.post(
            url, {"query": QUERIES[i % 4], "mode": "hybrid"}, content_type="application/json", **headers
        )
        assert response.status_code == 200, response.content[:300]

    with override_settings(REST_FRAMEWORK=rates):
        api(0)
        plain, full = [], []
        for _ in range(args.rounds):
            with override_settings(MIDDLEWARE=lean):
                plain.append(timed(api, args.calls))
            full.append(timed(api, args.calls))
    p, f = statistics.median(plain), statistics.median(full)
    print(f"API hybrid search, without metrics/request-id middlewares: {p:.3f} ms")
    print(f"API hybrid search, as deployed:                             {f:.3f} ms   ratio {f / p:.3f}")


if __name__ == "__main__":
    main()
