"""Search benchmark (issue 7): quality on judged Django-docs questions, then recall and latency at scale.

Run:  .venv/bin/python tests/bench/bench_search.py [--rows 100000] [--skip-quality] [--skip-scale]
      (--rows 1000000 for the 1M table; the first run embeds the Django docs: ~15 min on 2 cores, cached after)

Everything runs in its own database (privexbot_bench_search) through kb.search.chunk_search, the selector the
API, the panel and `manage.py search` use. Query embeddings are warmed into Redis first, so latencies are
those of a repeated query (a new query adds one model call: see "query embedding" below).
Concurrency: 50 threads in this process call the selector at once, each with its own database connection
(there is no HTTP API yet); the GIL and the client sharing the 2 cores with PostgreSQL make this pessimistic.
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


def bench_quality(kb) -> None:
    from django.test import override_settings

    from kb.search import chunk_search
    from kb.search.evaluation import evaluate, load_judgments
    from tests.bench import build_django_qa

    if not QA.exists():
        QA.parent.mkdir(parents=True, exist_ok=True)
        QA.write_text("".join(json.dumps(r) + "\n" for r in build_django_qa.build()))
    judged = load_judgments(QA)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE kb_chunk")  # the term statistics the keyword leg's idf reads
    print(f"\n== quality: {len(judged)} judged questions ({QA.name}: Django FAQ headings + glossary terms ->"
          f" the pages they link to), KB '{kb.name}' of {kb.chunks.count()} real chunks, top 10 chunks")  # fmt: skip

    def run(label: str, mode: str, **kwargs):
        def search(query, m, top_k):
            return chunk_search(kb=kb, query=query, mode=m, top_k=top_k, **kwargs)

        [report] = evaluate(search, judged, modes=[mode], k=10)
        row = report.as_dict(10)
        print(f"  {label:<44} nDCG@10 {row['ndcg@10']:.4f}  Recall@10 {row['recall@10']:.4f}"
              f"  MRR@10 {row['mrr@10']:.4f}  p50 {row['p50_ms']:5.1f} ms")  # fmt: skip
        return row["ndcg@10"]

    for mode in ("vector", "keyword", "hybrid"):  # warm the query-embedding cache and the term statistics
        evaluate(lambda q, m, k: chunk_search(kb=kb, query=q, mode=m, top_k=k), judged, modes=[mode], k=10)
    results = {}
    print(" keyword-leg ranking (plain questions match any term):")
    for ranking, norm in (("idf", 0), ("idf", 1), ("idf", 2), ("ts_rank", 0), ("ts_rank", 1), ("ts_rank", 32),
                          ("ts_rank_cd", 0), ("ts_rank_cd", 1), ("ts_rank_cd", 32)):  # fmt: skip
        with override_settings(SEARCH_KEYWORD_RANKING=ranking, SEARCH_KEYWORD_NORMALIZATION=norm):
            results[(ranking, norm)] = run(f"keyword {ranking} normalization={norm}", "keyword")
    [bm25] = evaluate(bm25_search(kb), judged, modes=["keyword"], k=10)
    bm25_ndcg = bm25.as_dict(10)["ndcg@10"]
    print(f"  {'bm25s BM25 (same chunks, stemmed, stop words)':<44} nDCG@10 {bm25_ndcg:.4f}  Recall@10 "
          f"{bm25.recall:.4f}  MRR@10 {bm25.mrr:.4f}")  # fmt: skip
    print(" modes (defaults):")
    best = {mode: run(mode, mode) for mode in ("vector", "keyword")}
    best["hybrid"] = run("hybrid rrf k=60", "hybrid")
    for k in (10, 30):
        run(f"hybrid rrf k={k}", "hybrid", rrf_k_value=k)
    for weight in (0.6, 0.7, 0.8):
        run(f"hybrid rrf k=60 vector_weight={weight}", "hybrid", vector_weight=weight)
    for weight in (0.3, 0.5, 0.7):
        run(f"hybrid weighted vector_weight={weight}", "hybrid", fusion_method="weighted", vector_weight=weight)
    print(
        f"  keyword leg / bm25s = {best['keyword'] / bm25_ndcg:.3f} (target >= 0.9);"
        f" hybrid - best single = {best['hybrid'] - max(best['vector'], best['keyword']):+.4f} (target >= +0.02)"
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
    from kb.search import chunk_search

    recalls, counts = [], []
    for query in queries:
        got = [r.chunk_id for r in chunk_search(kb=kb, query=query, mode="vector", top_k=10)]
        truth = exact_ids(kb, query)
        counts.append(len(got))
        recalls.append(len(set(got) & set(truth)) / max(1, len(truth)))
    print(f"  {label}: vector recall@10 vs exact {statistics.mean(recalls):.4f} (min {min(recalls):.2f}),"
          f" rows returned min {min(counts)} / max {max(counts)}; plan: {plan_of(kb, queries[0])}")  # fmt: skip


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


def bench_scale(user, workspace, real, rows: int) -> None:
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
    bench_query_embedding()
    bench_recall(main, queries[:100], f"{main.name}")
    bench_recall(small, queries[:100], f"{small.name} (1% KB)")
    bench_latency(main, queries, main.name)
    bench_latency(small, queries, small.name)
    bench_concurrency(main, queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--ef-search", type=int, default=None, help="override SEARCH_EF_SEARCH")
    args = parser.parse_args()
    django_setup(DB)
    from django.conf import settings

    if args.ef_search:
        settings.SEARCH_EF_SEARCH = args.ef_search

    from tests.bench import search_table

    print(machine())
    knobs = (
        ("SEARCH_EF_SEARCH", 200),
        ("SEARCH_RRF_K", 60),
        ("SEARCH_CANDIDATES", 40),
        ("SEARCH_KEYWORD_RANKING", "idf"),
    )
    print("settings: " + ", ".join(f"{name} {getattr(settings, name, default)}" for name, default in knobs))
    user, workspace = bench_user_and_workspace()
    real = search_table.real_kb(workspace, user)
    if not args.skip_quality:
        bench_quality(real)
    if not args.skip_scale:
        bench_scale(user, workspace, real, args.rows)


if __name__ == "__main__":
    main()
