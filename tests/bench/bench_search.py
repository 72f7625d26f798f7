"""Search benchmark (issue 7): quality on judged Django-docs questions, then recall and latency at scale.

Run:  .venv/bin/python tests/bench/bench_search.py [--rows 100000] [--skip-quality] [--skip-scale]
      (the first run embeds the Django docs: ~15 min on 2 cores, cached after)
1M:   CREATE DATABASE privexbot_bench_search_1m TEMPLATE privexbot_bench_search (reuses the embeddings), then
      .venv/bin/python tests/bench/bench_search.py --db privexbot_bench_search_1m --rows 1000000 --skip-quality
      (building the table takes ~6 min and ~6 GiB; the exact-search recall check ~2 min)

Everything runs in its own database (privexbot_bench_search) through kb.search.chunk_search, the selector the
API, the panel and `manage.py search` use. Query embeddings are warmed into Redis first, so latencies are
those of a repeated query (a new query adds one model call: see "query embedding" below).
Concurrency, two ways: 50 threads in this process call the selector at once (GIL-bound: a lower bound), and
50 HTTP clients in 5 client processes POST to /api/v1/knowledge-bases/{id}/search on gunicorn started here
with 2 and 4 sync workers on 127.0.0.1 (--http-workers; rate limits raised for the server under test).
Clients, server and PostgreSQL share the machine's cores.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.bench._setup import bench_user_and_workspace, django_setup, machine  # noqa: E402

DB = "privexbot_bench_search"
QA = Path(__file__).resolve().parents[2] / "var/bench/django_faq_qa.jsonl"
DEV_QA = Path(__file__).resolve().parents[2] / "var/bench/django_dev_qa.jsonl"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def ms(values: list[float]) -> str:
    return f"p50 {pct(values, 0.5) * 1000:6.1f} ms  p95 {pct(values, 0.95) * 1000:6.1f} ms  (n={len(values)})"


# ---------------------------------------------------------------- quality


def bm25_search(kb):
    """bm25s (English stemmer + stop words, its defaults otherwise) over exactly the KB's chunks."""
    import bm25s
    import Stemmer

    from kb.search import SearchResult

    rows = list(
        kb.chunks.select_related("document").values_list(
            "id", "content", "metadata", "document_id", "document__name", "document__url"
        )
    )
    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize([r[1] for r in rows], stopwords="en", stemmer=stemmer, show_progress=False),
                    show_progress=False)  # fmt: skip

    def search(query: str, mode: str, top_k: int):
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=stemmer, show_progress=False)
        if not tokens.vocab:
            return []
        docs, scores = retriever.retrieve(tokens, k=top_k, show_progress=False)
        out = []
        for rank, (i, score) in enumerate(zip(docs[0], scores[0], strict=True), start=1):
            cid, content, meta, doc_id, name, url = rows[int(i)]
            if score <= 0:
                break
            out.append(SearchResult(chunk_id=cid, content=content, document_id=str(doc_id), document_name=name,
                                    document_url=url, source_type="website_crawl", page=meta.get("page"),
                                    heading_path=[], metadata=meta, score=float(score), rank=rank))  # fmt: skip
        return out

    return search


def judged_sets() -> dict[str, list]:
    """The held-out FAQ set (test) and the larger dev set parameters are chosen on; built from the docs if absent."""
    from kb.search.evaluation import load_judgments
    from tests.bench import build_django_qa

    for path, build in ((QA, build_django_qa.build), (DEV_QA, build_django_qa.build_dev)):
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in build()), encoding="utf-8")
    return {"faq": load_judgments(QA), "dev": load_judgments(DEV_QA)}


def bench_quality(kb) -> None:
    from django.db import connection
    from django.test import override_settings

    from kb.search import chunk_search
    from kb.search.evaluation import evaluate

    sets = judged_sets()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE kb_chunk")  # the term statistics the keyword leg's idf reads
    print(f"\n== quality: KB '{kb.name}' of {kb.chunks.count()} real chunks, top 10 chunks, page-level judgments")
    print(
        f"  faq (held-out test): {len(sets['faq'])} questions ({QA.name}: FAQ headings + glossary terms ->"
        " the pages they link to)"
    )
    print(f"  dev (parameters chosen here): {len(sets['dev'])} questions ({DEV_QA.name}: how-to/topic guide titles"
          " + question-shaped section headings -> their own page)")  # fmt: skip

    def score(search, mode: str) -> dict[str, dict]:
        out = {}
        for name, judged in sets.items():
            [report] = evaluate(search, judged, modes=[mode], k=10)
            out[name] = report.as_dict(10)
        return out

    def line(label: str, rows: dict[str, dict]) -> None:
        print(f"  {label:<52}" + "".join(
            f"  {name} nDCG {r['ndcg@10']:.4f} R {r['recall@10']:.3f} MRR {r['mrr@10']:.3f}"
            for name, r in rows.items()) + f"  p50 {rows['faq']['p50_ms']:5.1f} ms")  # fmt: skip

    def run(label: str, mode: str, **kwargs) -> dict[str, float]:
        def search(query, m, top_k):
            return chunk_search(kb=kb, query=query, mode=m, top_k=top_k, **kwargs)

        rows = score(search, mode)
        line(label, rows)
        return {name: r["ndcg@10"] for name, r in rows.items()}

    for mode in ("vector", "keyword", "hybrid"):  # warm the query-embedding cache and the term statistics
        for judged in sets.values():
            evaluate(lambda q, m, k: chunk_search(kb=kb, query=q, mode=m, top_k=k), judged, modes=[mode], k=10)
    print(" keyword-leg ranking (plain questions match any term; heading = ts_rank weight of the stored heading path,"
          " body text is 0.1):")  # fmt: skip
    for ranking, norm, heading in (("idf", 0, 0.4), ("idf", 0, 0.1), ("idf", 0, 0.2), ("idf", 0, 0.7), ("idf", 0, 1.0),
                                   ("idf", 1, 0.4), ("ts_rank", 0, 0.4), ("ts_rank", 0, 0.1), ("ts_rank_cd", 0, 0.4),
                                   ("ts_rank_cd", 0, 0.1)):  # fmt: skip
        with override_settings(SEARCH_KEYWORD_RANKING=ranking, SEARCH_KEYWORD_NORMALIZATION=norm,
                               SEARCH_KEYWORD_HEADING_WEIGHT=heading):  # fmt: skip
            run(f"keyword {ranking} normalization={norm} heading={heading}", "keyword")
    bm25 = score(bm25_search(kb), "keyword")
    line("bm25s BM25 (same chunks, stemmed, stop words)", bm25)
    print(" modes (defaults):")
    best = {mode: run(mode, mode) for mode in ("vector", "keyword")}
    best["hybrid"] = run("hybrid (default fusion)", "hybrid")
    run("hybrid rrf (default k, weight)", "hybrid", fusion_method="rrf")
    with override_settings(SEARCH_KEYWORD_HEADING_WEIGHT=0.1):
        print(" before (previous defaults: rrf k=60 weight 0.5, headings weighted as body text):")
        run("keyword heading=0.1", "keyword")
        run("hybrid rrf k=60 vector_weight=0.5 heading=0.1", "hybrid", fusion_method="rrf", rrf_k_value=60,
            vector_weight=0.5)  # fmt: skip
        with override_settings(SEARCH_WEIGHTED_SCORES="relative"):
            run("hybrid weighted relative (min-max) vector_weight=0.55 heading=0.1", "hybrid", vector_weight=0.55)
    print(" fusion sweep (choose on dev; faq is the check):")
    for scores in ("absolute", "relative"):
        with override_settings(SEARCH_WEIGHTED_SCORES=scores):
            for candidates in (20, 40, 60):
                for weight in (0.5, 0.55, 0.6, 0.65, 0.7):
                    run(f"hybrid weighted {scores} candidates={candidates} vector_weight={weight}", "hybrid",
                        fusion_method="weighted", candidates=candidates, vector_weight=weight)  # fmt: skip
    for k in (10, 30, 60):
        for weight in (0.5, 0.6, 0.65):
            run(f"hybrid rrf k={k} vector_weight={weight}", "hybrid", fusion_method="rrf", rrf_k_value=k,
                vector_weight=weight)  # fmt: skip
    sizes = {name: len(judged) for name, judged in sets.items()}
    bm25_table = {name: r["ndcg@10"] for name, r in bm25.items()}
    for table in (*best.values(), bm25_table):
        table["all"] = sum(table[name] * sizes[name] for name in sizes) / sum(sizes.values())
    for name in ("faq", "dev", "all"):
        single = max(best["vector"][name], best["keyword"][name])
        print(
            f"  {name}: nDCG@10 vector {best['vector'][name]:.4f} keyword {best['keyword'][name]:.4f} hybrid"
            f" {best['hybrid'][name]:.4f}; keyword leg / bm25s = {best['keyword'][name] / bm25_table[name]:.3f}"
            f" (target >= 0.9); hybrid - best single = {best['hybrid'][name] - single:+.4f} (target >= +0.02)"
        )


# ---------------------------------------------------------------- scale


def queries_for_scale(kb, count: int) -> list[str]:
    """Real queries: the judged questions plus documentation page titles (seeded sample)."""
    from kb.search.evaluation import load_judgments

    titles = sorted(set(kb.documents.values_list("name", flat=True)))
    judged = [j.query for j in load_judgments(QA)] if QA.exists() else []
    rng = random.Random(11)
    return (judged + rng.sample(titles, min(len(titles), count)))[:count]


def exact_ids(kb, query: str, k: int = 10) -> list[int]:
    from django.db import connection, transaction

    from kb.search import vector
    from kb.search.query_embedding import embed_query

    literal = vector.vector_literal(embed_query(model="all-MiniLM-L6-v2", query=query))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_indexscan = off")  # a sequential scan: exact distances for every row
        cursor.execute(
            "SELECT id FROM kb_chunk WHERE kb_id = %s AND distance_metric = 'cosine'"
            " ORDER BY embedding <=> %s::vector, id LIMIT %s",
            [str(kb.pk), literal, k],
        )
        return [r[0] for r in cursor.fetchall()]


def plan_of(kb, query: str) -> str:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from kb.search import chunk_search

    with CaptureQueriesContext(connection) as captured:
        chunk_search(kb=kb, query=query, mode="vector", top_k=10)
    sql = next(q["sql"] for q in captured if "WITH hits AS MATERIALIZED" in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql)
        lines = [r[0].strip() for r in cursor.fetchall()]
    return next((line for line in lines if "Scan" in line and "CTE" not in line), "?").split("  (")[0]


def bench_recall(kb, queries: list[str], label: str) -> None:
    from kb.search import chunk_search, stats, vector

    recalls, counts = [], []
    for query in queries:
        got = [r.chunk_id for r in chunk_search(kb=kb, query=query, mode="vector", top_k=10)]
        truth = exact_ids(kb, query)
        counts.append(len(got))
        recalls.append(len(set(got) & set(truth)) / max(1, len(truth)))
    ef = vector.ef_for(stats.kb_rows(kb.pk))
    print(f"  {label}: ef_search {ef}, vector recall@10 vs exact {statistics.mean(recalls):.4f}"
          f" (min {min(recalls):.2f}), rows returned min {min(counts)} / max {max(counts)};"
          f" plan: {plan_of(kb, queries[0])}")  # fmt: skip


def bench_latency(kb, queries: list[str], label: str) -> None:
    from kb.search import chunk_search

    for mode in ("vector", "keyword", "hybrid"):
        for query in queries[:20]:
            chunk_search(kb=kb, query=query, mode=mode, top_k=10)
        times = []
        for query in queries:
            started = time.perf_counter()
            chunk_search(kb=kb, query=query, mode=mode, top_k=10)
            times.append(time.perf_counter() - started)
        print(f"  {label} {mode:<8} {ms(times)}")


def bench_concurrency(kb, queries: list[str], clients: int = 50, per_client: int = 20) -> None:
    from django.db import connection

    from kb.search import chunk_search

    times: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def client(n: int) -> None:
        rng = random.Random(n)
        mine, failed = [], []
        start.wait()
        for _ in range(per_client):
            query = rng.choice(queries)
            began = time.perf_counter()
            try:
                chunk_search(kb=kb, query=query, mode="hybrid", top_k=10)
                mine.append(time.perf_counter() - began)
            except Exception as exc:
                failed.append(repr(exc))
        connection.close()
        with lock:
            times.extend(mine)
            errors.extend(failed)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    print(
        f"  {clients} concurrent clients (threads calling the selector), hybrid: {ms(times)}, "
        f"{len(times) / wall:.0f} searches/s, errors {len(errors)}{' ' + errors[0] if errors else ''}"
    )


def _http_client(args) -> tuple[list[float], list[str]]:
    """One client process: `threads` clients, each a keep-alive connection sending `per_client` searches."""
    import http.client

    url, token, kb_id, queries, threads, per_client, seed, start_at = args
    host, port = url.split("//", 1)[1].split(":")
    times: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        mine, failed = [], []
        time.sleep(max(0.0, start_at - time.time()))
        for _ in range(per_client):
            body = json.dumps({"query": rng.choice(queries), "mode": "hybrid", "top_k": 10})
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            began = time.perf_counter()
            try:
                conn.request("POST", f"/api/v1/knowledge-bases/{kb_id}/search", body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                if response.status != 200:
                    failed.append(f"HTTP {response.status}: {payload[:200]!r}")
                else:
                    mine.append(time.perf_counter() - began)
            except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                failed.append(repr(exc))
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=60)
        conn.close()
        with lock:
            times.extend(mine)
            errors.extend(failed)

    pool = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return times, errors


def bench_http_concurrency(user, kb, queries: list[str], *, workers: int, clients: int = 50, per_client: int = 20,
                           processes: int = 5) -> None:  # fmt: skip
    """`clients` concurrent HTTP clients (spread over `processes` client processes) against gunicorn with
    `workers` worker processes on 127.0.0.1, POSTing hybrid searches to the API route. Rate limits are raised
    for the server under test (throttling is its own feature; this measures capacity)."""
    import multiprocessing
    import os
    import socket
    import subprocess

    from django.conf import settings

    from tenants.tokens import api_token_create

    _, token = api_token_create(user=user, name="bench-search-http")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, DJANGO_SETTINGS_MODULE=os.environ["DJANGO_SETTINGS_MODULE"],
               PRIVEXBOT_DB_NAME=settings.DATABASES["default"]["NAME"], API_THROTTLE_USER="1000000/min",
               API_THROTTLE_IP="1000000/min", API_THROTTLE_HEAVY="1000000/min")  # fmt: skip
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen(
        [str(gunicorn), "privexbot.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--worker-class", "sync", "--backlog", "256", "--log-level", "warning"],
        env=env, cwd=str(Path(__file__).resolve().parents[2]),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:  # ready, and every worker warm (model loaded, term statistics read)
            try:
                warm = _http_client((url, token, str(kb.pk), queries, workers * 2, 3, 99, 0.0))
                if warm[0]:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError("gunicorn did not come up")
            time.sleep(1)
        per_process = clients // processes
        start_at = time.time() + 1.0
        jobs = [(url, token, str(kb.pk), queries, per_process, per_client, p, start_at) for p in range(processes)]
        began = time.time()
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            parts = pool.map(_http_client, jobs)
        wall = time.time() - max(began, start_at)
    finally:
        server.terminate()
        server.wait(timeout=30)
    times = [t for part in parts for t in part[0]]
    errors = [e for part in parts for e in part[1]]
    print(f"  {clients} concurrent HTTP clients ({processes} processes x {per_process}, keep-alive) -> gunicorn"
          f" {workers} sync workers, POST .../search hybrid top_k 10: {ms(times)}, {len(times) / wall:.0f} searches/s,"
          f" errors {len(errors)}{' ' + errors[0] if errors else ''}")  # fmt: skip


def bench_query_embedding() -> None:
    from kb.pipeline import runtime

    model = runtime.embedder("all-MiniLM-L6-v2")
    model.encode(["warm up"])
    times = []
    for i in range(30):
        started = time.perf_counter()
        model.encode([f"How do I configure the database connection number {i}?"])
        times.append(time.perf_counter() - started)
    print(f"  query embedding on a cache miss (model call, {model.backend}): {ms(times)}")


def bench_scale(user, workspace, real, rows: int, http_workers: list[int], only_http: bool = False) -> None:
    from kb.models import KnowledgeBase
    from tests.bench import search_table

    print(f"\n== scale: {rows:,} chunks in kb_chunk")
    report = search_table.grow(workspace=workspace, user=user, real=real, total=rows)
    if report.get("rebuilt"):
        print("  built: " + ", ".join(f"{k} {v:.1f}" for k, v in report.items() if k.endswith("_s")))
    else:
        print("  table already at this size (index build times are printed when it is (re)built)")
    for name, size in search_table.sizes().items():
        print(f"  size {name}: {size / 2**20:,.0f} MiB")
    main = KnowledgeBase.objects.get(workspace=workspace, name=search_table.MAIN_KB)
    small = KnowledgeBase.objects.get(workspace=workspace, name=search_table.SMALL_KB)
    print(f"  KBs: {main.name} {main.chunks.count():,} chunks, {small.name} {small.chunks.count():,} chunks,"
          f" {real.name} {real.chunks.count():,}")  # fmt: skip
    queries = queries_for_scale(real, 200)
    from kb.search import chunk_search

    for query in queries:  # query embeddings into Redis, as for any repeated query
        chunk_search(kb=main, query=query, mode="vector", top_k=1)
    if only_http:
        for workers in http_workers:
            bench_http_concurrency(user, main, queries, workers=workers)
        return
    bench_query_embedding()
    bench_recall(main, queries[:100], f"{main.name}")
    bench_recall(small, queries[:100], f"{small.name} (1% KB)")
    bench_latency(main, queries, main.name)
    bench_latency(small, queries, small.name)
    bench_concurrency(main, queries)
    for workers in http_workers:
        bench_http_concurrency(user, main, queries, workers=workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--db",
        default=DB,
        help=f"benchmark database (default {DB}); e.g. a second one for 1M rows,"
        " made with CREATE DATABASE ... TEMPLATE so the embeddings are not computed again",
    )
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument(
        "--ef-search", type=int, default=None, help="one hnsw.ef_search for every KB (no scaling by size)"
    )
    parser.add_argument("--http-workers", default="2,4", help="gunicorn worker counts for the HTTP concurrency run"
                        " ('' to skip)")  # fmt: skip
    parser.add_argument("--only-http", action="store_true", help="scale section: only the HTTP concurrency run")
    args = parser.parse_args()
    django_setup(args.db)
    from django.conf import settings

    if args.ef_search:  # one ef for every KB size
        settings.SEARCH_EF_SEARCH = settings.SEARCH_EF_SEARCH_MAX = args.ef_search

    from tests.bench import search_table

    print(machine())
    knobs = (
        ("SEARCH_EF_SEARCH", 400),
        ("SEARCH_EF_SCALE_CHUNKS", 100_000),
        ("SEARCH_EF_SEARCH_MAX", 1000),
        ("SEARCH_FUSION", "weighted"),
        ("SEARCH_VECTOR_WEIGHT", 0.55),
        ("SEARCH_RRF_K", 30),
        ("SEARCH_CANDIDATES", 40),
        ("SEARCH_KEYWORD_HEADING_WEIGHT", 0.4),
        ("SEARCH_KEYWORD_RANKING", "idf"),
    )
    print("settings: " + ", ".join(f"{name} {getattr(settings, name)}" for name, _ in knobs))
    user, workspace = bench_user_and_workspace()
    real = search_table.real_kb(workspace, user)
    if not args.skip_quality:
        bench_quality(real)
    if not args.skip_scale:
        workers = [int(w) for w in args.http_workers.split(",") if w.strip()]
        bench_scale(user, workspace, real, args.rows, workers, only_http=args.only_http)


if __name__ == "__main__":
    main()
