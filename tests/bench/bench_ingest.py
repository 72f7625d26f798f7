"""Ingestion benchmark (issue 3): end-to-end chunks/s through a real worker vs a bare
SentenceTransformer.encode of the same chunks in the same run; re-ingestion cost; peak worker RSS.

Run: .venv/bin/python tests/bench/bench_ingest.py [--skip-rss]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.bench._setup import CORPUS, ROOT, bench_user_and_workspace, django_setup, machine  # noqa: E402

# English prose and technical docs: a few hundred chunks of ~256 tokens.
FILES = [
    "md/pip-dependency-resolution.md",
    "md/systemd-CODING_STYLE.md",
    "md/zstd-CONTRIBUTING.md",
    "md/trafilatura-README.md",
    "md/pikepdf-README.md",
    "md/pdfplumber-README.md",
    "md/camelot-README.md",
    "md/nodejs-path.md",
    "md/nodejs-url.md",
    "md/nodejs-dns.md",
    "md/gnutls-README.md",
]


def start_worker(db_name: str) -> subprocess.Popen:
    env = {**os.environ, "PRIVEXBOT_DB_NAME": db_name}
    cmd = [sys.executable, "manage.py", "rundramatiq", "--processes", "1", "--threads", "1"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL)


def stop_worker(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=120)


def wait_ready(ids, timeout=3600) -> float:
    from kb.models import UNFINISHED, Document

    started = time.perf_counter()
    while Document.objects.filter(pk__in=ids, status__in=UNFINISHED).exists():
        if time.perf_counter() - started > timeout:
            raise SystemExit("timed out")
        time.sleep(0.1)
    bad = list(Document.objects.filter(pk__in=ids).exclude(status="ready").values_list("name", "error"))
    if bad:
        raise SystemExit(f"documents did not become ready: {bad}")
    return time.perf_counter() - started


def warm_worker(kb, user) -> None:
    """Model load, ONNX session and parse-child start-up are per-process costs, not per-chunk ones: a
    long-running worker has paid them already, so the warm-up document pays them here."""
    import io

    from kb.services import document_create_from_file

    doc = document_create_from_file(
        kb=kb, user=user, filename="warm-up.md", fileobj=io.BytesIO(b"# Warm-up\n\nWarm-up text for the worker.\n")
    )
    wait_ready([doc.pk], timeout=600)


def ingest(kb, user, paths) -> list:
    from kb.services import document_create_from_file

    ids = []
    for path in paths:
        with open(path, "rb") as fh:
            ids.append(document_create_from_file(kb=kb, user=user, filename=path.name, fileobj=fh).pk)
    return ids


def bench_throughput(user, workspace, db_name):
    from django.db import connection

    from kb.models import Chunk, Document
    from kb.pipeline import runtime
    from kb.services import document_find_unchanged, file_sha256, kb_create, kb_reindex

    with connection.cursor() as cur:
        cur.execute("TRUNCATE kb_embeddingcache")  # a cold cache: every chunk must be embedded
    # ~1300 characters of English docs is ~256 word pieces: the chunk size the model reads whole.
    chunking = {
        "strategy": "recursive",
        "chunk_size": 1300,
        "chunk_overlap": 200,
        "separators": ["\n\n", "\n", ". ", " "],
    }
    kb = kb_create(workspace=workspace, user=user, name=f"bench-{time.time():.0f}", chunking_config=chunking)
    paths = [CORPUS / f for f in FILES]
    worker = start_worker(db_name)
    try:
        warm_worker(kb, user)
        started = time.perf_counter()
        ids = ingest(kb, user, paths)
        wait_ready(ids)
        first = time.perf_counter() - started
        first_stats = [d.stats for d in Document.objects.filter(pk__in=ids)]
        chunks = list(Chunk.objects.filter(document_id__in=ids).order_by("document_id", "index"))
        texts = [c.content for c in chunks]
        tokens = [c.token_count for c in chunks]

        started = time.perf_counter()
        for path in paths:  # `manage.py ingest` of the same files: unchanged ones are recognised and skipped
            with open(path, "rb") as fh:
                assert document_find_unchanged(kb=kb, name=path.name, content_hash=file_sha256(fh)[0])
        reingest = time.perf_counter() - started

        started = time.perf_counter()
        kb_reindex(kb=kb, user=user)
        wait_ready(ids)
        reindex = time.perf_counter() - started
        stats = [d.stats for d in Document.objects.filter(pk__in=ids)]
    finally:
        stop_worker(worker)

    from kb.pipeline.embed import load_sentence_transformer

    model = load_sentence_transformer(runtime.model_path("all-MiniLM-L6-v2"))
    model.encode(texts[:32], batch_size=32, show_progress_bar=False)  # warm-up, like the worker's
    runs = []
    for _ in range(3):  # the CPU's speed drifts between runs: take the median of three
        started = time.perf_counter()
        model.encode(texts, batch_size=32, show_progress_bar=False)
        runs.append(time.perf_counter() - started)
    bare = sorted(runs)[1]

    n = len(texts)
    print(f"chunks: {n}, mean {sum(tokens) / n:.0f} tokens (incl. special; the model reads at most 256)")
    print(f"bare SentenceTransformer.encode (torch):   {n / bare:6.1f} chunks/s (median of "
          f"{', '.join(f'{n / r:.1f}' for r in runs)})")  # fmt: skip
    print(f"end-to-end ingestion through a worker:     {n / first:6.1f} chunks/s ({first:.1f}s)")
    print(f"ratio end-to-end / bare encode:            {bare / first:6.2f}  (target >= 0.9)")
    stages = {k: sum(st.get(k, 0) for st in first_stats) for k in ("parse_s", "chunk_s", "embed_s", "store_s")}
    print("  first ingestion, seconds per stage: " + ", ".join(f"{k[:-2]} {v:.2f}" for k, v in stages.items()))
    print(f"re-ingest unchanged files (skipped):       {reingest:.3f}s = {100 * reingest / first:.2f}% of first")
    print(f"reindex (cached elements + embeddings):    {reindex:.2f}s = {100 * reindex / first:.1f}% of first")
    print(f"reindex cache hits: {sum(s.get('embedding_cache_hits', 0) for s in stats)} / {n} chunks, "
          f"embedded again: {sum(s.get('embedded', 0) for s in stats)}")  # fmt: skip
    return kb


def bench_rss(user, workspace, db_name):
    import psutil

    from kb.services import kb_create

    kb = kb_create(workspace=workspace, user=user, name=f"bench-rss-{time.time():.0f}")
    worker = start_worker(db_name)
    peaks = {"worker": 0, "parse child": 0}
    stop = threading.Event()

    def sample():
        root = psutil.Process(worker.pid)
        while not stop.is_set():
            try:
                for proc in root.children(recursive=True):
                    rss = proc.memory_info().rss
                    key = "parse child" if "parse_child" in " ".join(proc.cmdline()) else "worker"
                    peaks[key] = max(peaks[key], rss)
            except psutil.Error:
                pass
            time.sleep(0.1)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        started = time.perf_counter()
        ids = ingest(kb, user, [CORPUS / "pdf" / "octave.pdf"])
        wait_ready(ids)
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        thread.join()
        stop_worker(worker)
    from kb.models import Document

    doc = Document.objects.get(pk=ids[0])
    print(f"octave.pdf (1158 pages): {doc.chunk_count} chunks in {elapsed:.0f}s; stage seconds {doc.stats}")
    worker_mib, child_mib = peaks["worker"] / 2**20, peaks["parse child"] / 2**20
    print(f"peak RSS worker process: {worker_mib:.0f} MiB; parse child: {child_mib:.0f} MiB (target <= 2048 MiB each)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-rss", action="store_true")
    args = parser.parse_args()
    db_name = "privexbot_bench"
    django_setup(db_name)
    print(machine())
    user, workspace = bench_user_and_workspace()
    bench_throughput(user, workspace, db_name)
    if not args.skip_rss:
        bench_rss(user, workspace, db_name)


if __name__ == "__main__":
    main()
