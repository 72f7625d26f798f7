"""API cost benchmark (issue 18): searches per second through the selector alone and through the public HTTP API,
in one run, on the same KB and the same queries.

Run:  nice -n 10 .venv/bin/python tests/bench/bench_api.py [--pages 120] [--chunks 9300] [--seconds 8]
      (the first run embeds --pages pages of the Django docs, ~2 min on 2 cores; later runs reuse the KB)

The KB (in its own database, privexbot_bench_api) holds the real chunks of the first --pages pages of the Django
docs in shared/corpus/site, plus copies of them with slightly moved vectors up to --chunks rows (the size the
issue measured, 9,300). Queries are page titles; their embeddings are warmed into Redis first, so both sides pay
the same repeated-query cost.

1. Selector: `kb.search.chunk_search` called in this process, one query after another, for each mode.
2. API: gunicorn started here with the production settings (privexbot.settings, DEBUG=false, fresh secrets,
   the audit on its own connection, TLS assumed at a proxy: the client sends X-Forwarded-Proto), a bearer key
   with the `search` scope, one keep-alive client, POST /api/v1/knowledge-bases/{id}/search, for each mode.
   The ratio API / selector is printed per mode (target >= 0.8).
3. 50 concurrent clients (5 client processes x 10 threads, keep-alive) against the same gunicorn, hybrid: p50,
   p95 and searches/s.

The search-result cache is off on both sides (SEARCH_RESULT_CACHE_SECONDS=0): this measures what a search
costs, not a cache hit. Rate limits are raised for the server under test (they are counted all the same).
Clients, server and PostgreSQL share the machine's cores.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ["SEARCH_RESULT_CACHE_SECONDS"] = "0"  # before settings are read: no result cache in this process
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.bench._setup import ROOT, bench_user_and_workspace, django_setup, machine  # noqa: E402

DB = "privexbot_bench_api"
KB_NAME = "api-bench"
MODES = ("keyword", "vector", "hybrid")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def cpu_by_pid(pids) -> dict[int, float]:
    """User + system CPU seconds of each of these processes so far (a process that is gone is left out)."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime (fields 14 and 15 of proc(5))
    return found


def cpu_seconds(pids) -> float:
    return sum(cpu_by_pid(pids).values())


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two snapshots: the growth of each process seen twice, all of one that started since."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


def backend_pids(db: str, *, exclude_own: bool) -> list[int]:
    """PostgreSQL client backends connected to the bench database (the server's connections, audit included;
    not autovacuum, which may be busy with the bench table)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'"
            " AND (NOT %s OR pid <> pg_backend_pid())",
            [db, exclude_own],
        )
        return [r[0] for r in cursor.fetchall()]


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return found


# ---------------------------------------------------------------- the KB


def build_kb(workspace, user, *, pages: int, chunks: int):
    """The bench KB, built once: real chunks of `pages` pages, then perturbed copies up to `chunks` rows."""
    import numpy as np
    from django.db import transaction

    from kb.models import Document, KnowledgeBase
    from kb.pipeline.store import replace_chunks
    from tests.bench import search_data

    kb = KnowledgeBase.objects.filter(workspace=workspace, name=KB_NAME).first()
    if kb is not None and kb.chunks.count() >= chunks:
        return kb
    if kb is not None:
        from kb.deletion import delete_kb

        delete_kb(kb=kb, user=user, reason="bench rebuild")
    kb = KnowledgeBase.objects.create(workspace=workspace, name=KB_NAME, created_by=user)
    real = search_data.parse_and_chunk()[:pages]
    vectors = search_data.embed_pages(real)
    rng = np.random.default_rng(18)
    total, copy = 0, 0
    while total < chunks:
        offset = 0
        for page in real:
            if total >= chunks:
                break
            block = vectors[offset : offset + len(page.chunks)]
            offset += len(page.chunks)
            if copy:  # a copy: the same text, its vector moved a little (HNSW sees distinct points)
                block = block + rng.normal(0, 0.02, block.shape).astype(np.float32)
                block = block / np.linalg.norm(block, axis=1, keepdims=True)
            with transaction.atomic():
                doc = Document.objects.create(
                    kb=kb, source_type="website_crawl", name=page.title if not copy else f"{page.title} ({copy})",
                    url=page.url, file_type="html", status="ready", chunk_count=len(page.chunks),
                )  # fmt: skip
                replace_chunks(
                    document_id=doc.pk, kb_id=kb.pk, language=kb.language, version=1, chunks=page.chunks, vectors=block
                )
            total += len(page.chunks)
        copy += 1
    return kb


def queries_for(kb, count: int) -> list[str]:
    titles = sorted(set(kb.documents.exclude(name__endswith=")").values_list("name", flat=True)))
    return random.Random(18).sample(titles, min(count, len(titles)))


# ---------------------------------------------------------------- selector


def selector_rate(kb, queries: list[str], mode: str, seconds: float) -> tuple[float, list[float], float]:
    """(searches/s, latencies, CPU seconds per search of this process and its PostgreSQL backend)."""
    from django.db import connection

    from kb.search import chunk_search

    for query in queries[:10]:
        chunk_search(kb=kb, query=query, mode=mode, top_k=10)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    cpu_before = time.process_time() + cpu_seconds([backend])
    times: list[float] = []
    began = time.perf_counter()
    i = 0
    while time.perf_counter() - began < seconds:
        t0 = time.perf_counter()
        chunk_search(kb=kb, query=queries[i % len(queries)], mode=mode, top_k=10)
        times.append(time.perf_counter() - t0)
        i += 1
    rate = len(times) / (time.perf_counter() - began)
    return rate, times, (time.process_time() + cpu_seconds([backend]) - cpu_before) / len(times)


# ---------------------------------------------------------------- HTTP


def _post(conn, token: str, kb_id: str, query: str, mode: str) -> tuple[int, bytes]:
    body = json.dumps({"query": query, "mode": mode, "top_k": 10})
    headers = {
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", "X-Forwarded-Proto": "https",
        "Host": "127.0.0.1",
    }  # fmt: skip
    conn.request("POST", f"/api/v1/knowledge-bases/{kb_id}/search", body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def api_rate(port: int, token: str, kb_id: str, queries: list[str], mode: str, seconds: float, server_pids):
    """(searches/s, latencies, CPU seconds per search of the server: gunicorn workers + their PostgreSQL
    backends; the client's own CPU is not counted)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for query in queries[:10]:
        status, payload = _post(conn, token, kb_id, query, mode)
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {payload[:300]!r}")
    cpu_before = cpu_by_pid(server_pids())
    times: list[float] = []
    began = time.perf_counter()
    i = 0
    while time.perf_counter() - began < seconds:
        t0 = time.perf_counter()
        status, payload = _post(conn, token, kb_id, queries[i % len(queries)], mode)
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {payload[:300]!r}")
        times.append(time.perf_counter() - t0)
        i += 1
    rate = len(times) / (time.perf_counter() - began)
    cpu = cpu_between(cpu_before, cpu_by_pid(server_pids())) / len(times)
    conn.close()
    return rate, times, cpu


def _client_process(args) -> tuple[list[float], list[str]]:
    """One client process: `threads` keep-alive clients, each sending `per_client` hybrid searches."""
    import http.client

    port, token, kb_id, queries, threads, per_client, seed, start_at = args
    times: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        mine, failed = [], []
        time.sleep(max(0.0, start_at - time.time()))
        for _ in range(per_client):
            began = time.perf_counter()
            try:
                status, payload = _post(conn, token, kb_id, rng.choice(queries), "hybrid")
                if status == 200:
                    mine.append(time.perf_counter() - began)
                else:
                    failed.append(f"HTTP {status}: {payload[:200]!r}")
            except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                failed.append(repr(exc))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
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


def concurrent_clients(
    port: int, token: str, kb_id: str, queries: list[str], *, clients=50, per_client=10, processes=5
):
    import multiprocessing

    start_at = time.time() + 1.0
    per_process = clients // processes
    jobs = [(port, token, kb_id, queries, per_process, per_client, p, start_at) for p in range(processes)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        parts = pool.map(_client_process, jobs)
    times = [t for part in parts for t in part[0]]
    errors = [e for part in parts for e in part[1]]
    wall = max(1e-9, time.time() - start_at)
    return times, errors, wall


def start_gunicorn(*, workers: int, tree: Path) -> tuple[subprocess.Popen, int]:
    """gunicorn on 127.0.0.1 with the production settings (DEBUG off, fresh secrets) on the bench database."""
    from django.conf import settings

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "DJANGO_SETTINGS_MODULE": "privexbot.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ENCRYPTION_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "METRICS_TOKEN": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "127.0.0.1",
        "TRUST_X_FORWARDED_PROTO": "true",
        # The embedded servers of the bench run (its var dir and database): production reaches its own by URL.
        "PRIVEXBOT_VAR_DIR": str(settings.VAR_DIR),
        "PRIVEXBOT_DB_NAME": settings.DATABASES["default"]["NAME"],
        "SEARCH_RESULT_CACHE_SECONDS": "0",
        "API_THROTTLE_USER": "1000000/min",
        "API_THROTTLE_IP": "1000000/min",
        "API_THROTTLE_HEAVY": "1000000/min",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    # a search setting measured (SEARCH_KEYWORD_MAX_MATCHES=... bench_api.py) applies to both sides
    env.update({k: v for k, v in os.environ.items() if k.startswith("SEARCH_") and k not in env})
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen(
        [str(gunicorn), "privexbot.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--worker-class", "sync", "--backlog", "256", "--log-level", "warning"],
        env=env, cwd=str(tree),
    )  # fmt: skip
    return server, port


def wait_ready(port: int, token: str, kb_id: str, queries: list[str], workers: int) -> None:
    import http.client

    deadline = time.time() + 120
    last = ""
    while time.time() < deadline:
        try:  # every worker warm: several keep-alive connections at once land on different workers
            results = []

            def one(n: int, results=results) -> None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                try:
                    for i in range(3):
                        results.append(_post(conn, token, kb_id, queries[(n + i) % len(queries)], "hybrid")[0])
                except OSError:  # not listening yet
                    results.append(0)
                finally:
                    conn.close()

            pool = [threading.Thread(target=one, args=(n,)) for n in range(workers * 2)]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()
            if results and all(s == 200 for s in results):
                return
            last = f"statuses {sorted(set(results))}"
        except OSError as exc:
            last = repr(exc)
        time.sleep(1)
    raise RuntimeError(f"gunicorn did not answer searches: {last}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=120, help="real Django-docs pages embedded")
    parser.add_argument("--chunks", type=int, default=9300, help="rows of the KB (real chunks + perturbed copies)")
    parser.add_argument("--seconds", type=float, default=8.0, help="measuring time per mode and side")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--per-client", type=int, default=10)
    parser.add_argument("--tree", default=str(ROOT), help="source tree gunicorn runs (a copy, to compare code)")
    args = parser.parse_args()
    django_setup(DB)
    from django.conf import settings

    from kb.search import chunk_search
    from tenants.tokens import api_token_create

    assert settings.SEARCH_RESULT_CACHE_SECONDS == 0
    print(machine())
    user, workspace = bench_user_and_workspace()
    kb = build_kb(workspace, user, pages=args.pages, chunks=args.chunks)
    queries = queries_for(kb, 100)
    print(f"KB {kb.name}: {kb.chunks.count():,} chunks, {kb.documents.count()} documents; {len(queries)} queries")
    for query in queries:  # query embeddings into Redis, for both sides
        chunk_search(kb=kb, query=query, mode="vector", top_k=1)
    _, token = api_token_create(user=user, name="bench-api", scopes=["search"], expires_in_days=1)

    selector: dict[str, tuple[float, list[float], float]] = {}
    for mode in MODES:
        selector[mode] = selector_rate(kb, queries, mode, args.seconds)
    from django.db import connections

    connections.close_all()
    server, port = start_gunicorn(workers=args.workers, tree=Path(args.tree))

    def server_pids() -> list[int]:
        return children(server.pid) + backend_pids(settings.DATABASES["default"]["NAME"], exclude_own=True)

    try:
        wait_ready(port, token, str(kb.pk), queries, args.workers)
        print(f"\none client, {args.seconds:.0f} s per mode and side (gunicorn {args.workers} sync workers, tree "
              f"{args.tree}); CPU = ms of CPU per search (selector: this process + its PostgreSQL backend;"
              " API: the gunicorn workers + their backends),"
              " whose ratio is the throughput ratio of a busy machine:")  # fmt: skip
        ratios, cpu_ratios = [], []
        for mode in MODES:
            rate, times, cpu = api_rate(port, token, str(kb.pk), queries, mode, args.seconds, server_pids)
            s_rate, s_times, s_cpu = selector[mode]
            ratios.append(rate / s_rate)
            cpu_ratios.append(s_cpu / cpu if cpu else float("nan"))
            print(f"  {mode:<8} selector {s_rate:6.1f}/s (p50 {statistics.median(s_times) * 1000:5.1f} ms, "
                  f"CPU {s_cpu * 1000:5.1f} ms)   API {rate:6.1f}/s (p50 {statistics.median(times) * 1000:5.1f} ms, "
                  f"CPU {cpu * 1000:5.1f} ms)   API/selector {rate / s_rate:.2f}, by CPU {cpu_ratios[-1]:.2f}"
                  "  (target >= 0.8)")  # fmt: skip
        print(f"  lowest ratio {min(ratios):.2f} (by CPU {min(cpu_ratios):.2f})")
        times, errors, wall = concurrent_clients(
            port, token, str(kb.pk), queries, clients=args.clients, per_client=args.per_client
        )
        print(f"\n{args.clients} concurrent clients (5 processes, keep-alive), hybrid top_k 10: "
              f"p50 {pct(times, 0.5) * 1000:.0f} ms, p95 {pct(times, 0.95) * 1000:.0f} ms, "
              f"{len(times) / wall:.1f} searches/s, errors {len(errors)}"
              f"{' ' + errors[0] if errors else ''}")  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
