"""Ingestion benchmark (issues 3 and 18): end-to-end chunks/s through a real worker started as it ships
(deploy/start-worker.sh with its default processes, threads and the ONNX threads it derives from them) against
a bare encode, in the same run, of exactly the texts the worker embedded. Two cases:

  large  11 Markdown documents of the corpus, chunk size 1300 (~256 word pieces): a few hundred chunks
  small  --pages Markdown pages (default 1,000) of about 8 chunks each, cut from the real text of the corpus's
         Django documentation (HTML), with the KB's default chunking — per-document overhead dominates here

The bare encoder is the project's embedder (runtime.embedder: ONNX, the backend the worker uses) with every core
of this machine, fed all the texts in one call (sorted by length, the same length-aware batches of at most
EMBEDDING_BATCH_SIZE): what the encoder alone does. --torch also prints sentence-transformers' own encode of the
same texts.
The large case also prints re-ingestion and reindex costs; then the peak worker RSS on octave.pdf.

Run: .venv/bin/python tests/bench/bench_ingest.py [--cases large,small] [--pages 1000] [--torch] [--skip-rss]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
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
# ~8 chunks of the KB's default chunking: pages of 6,400 characters gave 30.6 chunks each (2026-12-03, after the
# context-line chunking of issue 17); re-calibrate if the defaults change (the report prints chunks per document).
PAGE_CHARS = 3800
MIN_PAGE_CHARS = 1400
# The bare encode of the small case runs on an even sample of this many of its texts (same length mix).
BARE_SAMPLE = 2000


# --worker KEY=VALUE overrides (a measurement of another configuration; the figures of record use none).
WORKER_OVERRIDES: dict[str, str] = {}


def start_worker(db_name: str) -> subprocess.Popen:
    """The worker exactly as deploy/start-worker.sh starts it in production: no WORKER_* or EMBEDDING_THREADS
    override, so the processes, threads per process and ONNX threads are the shipped defaults."""
    env = {k: v for k, v in os.environ.items() if k not in ("WORKER_PROCESSES", "WORKER_THREADS", "EMBEDDING_THREADS")}
    env.update(WORKER_OVERRIDES)
    env.update(PRIVEXBOT_DB_NAME=db_name, PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    # A temp dir of its own: the worker's encode turns (kb/pipeline/embedding/turns.py) then coordinate its own
    # processes only, as on a machine of its own, not with other workers that happen to run on this one.
    env["TMPDIR"] = tempfile.mkdtemp(prefix="bench-ingest-")
    cmd = ["sh", str(ROOT / "deploy" / "start-worker.sh")]
    log = open(Path(env["TMPDIR"]) / "worker.log", "wb")  # noqa: SIM115 - the worker's stderr, kept for a post-mortem
    print(f"(worker log: {log.name})")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=log)


def stop_worker(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=120)


def wait_ready(ids, timeout=7200) -> float:
    from kb.models import UNFINISHED, Document

    started = time.perf_counter()
    while Document.objects.filter(pk__in=ids, status__in=UNFINISHED).exists():
        if time.perf_counter() - started > timeout:
            raise SystemExit("timed out")
        time.sleep(0.1)
    bad = list(Document.objects.filter(pk__in=ids).exclude(status="ready").values_list("name", "error"))
    if bad:
        raise SystemExit(f"documents did not become ready: {bad[:5]}")
    return time.perf_counter() - started


def warm_worker(kb, user) -> None:
    """Model load, ONNX session and parse-child start-up are per-process costs, not per-chunk ones: a
    long-running worker has paid them already, so warm-up documents pay them here (a few, so that every worker
    process is likely to get one)."""
    import io

    from kb.services import document_create_from_file

    ids = [
        document_create_from_file(
            kb=kb, user=user, filename=f"warm-up-{i}.md",
            fileobj=io.BytesIO(f"# Warm-up {i}\n\nWarm-up text number {i} for the worker.\n".encode()),
        ).pk
        for i in range(4)
    ]  # fmt: skip
    wait_ready(ids, timeout=600)


def cpu_snapshot(worker: subprocess.Popen) -> dict[int, tuple[str, float]]:
    """CPU seconds so far of the worker's processes, its parse children and of the database backends that serve
    this database, by pid with what each is: on a shared machine the wall clock says how much CPU the scheduler
    gave, this says how much the work took, and where."""
    import psutil
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        backends = [psutil.Process(pid) for (pid,) in cur.fetchall() if psutil.pid_exists(pid)]
    root = psutil.Process(worker.pid)
    seconds = {}
    for kind, procs in (("worker", [root, *root.children(recursive=True)]), ("database", backends)):
        for proc in procs:
            try:
                times = proc.cpu_times()
                is_child = kind == "worker" and "parse_child" in " ".join(proc.cmdline())
                seconds[proc.pid] = ("parse child" if is_child else kind, times.user + times.system)
            except psutil.Error:
                pass
    return seconds


def cpu_used(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds between two snapshots, per kind of process (a process that ended in between is not counted)."""
    used: dict[str, float] = {}
    for pid, (kind, value) in after.items():
        used[kind] = used.get(kind, 0.0) + value - before.get(pid, (kind, 0.0))[1]
    return used


def ingest(kb, user, paths) -> list:
    from kb.services import document_create_from_file

    ids = []
    for path in paths:
        with open(path, "rb") as fh:
            ids.append(document_create_from_file(kb=kb, user=user, filename=path.name, fileobj=fh).pk)
    return ids


def embedded_texts(ids) -> list[str]:
    """What the worker embedded for these documents, composed by the function the pipeline uses."""
    from kb.models import Chunk
    from kb.pipeline.types import embedding_text

    rows = Chunk.objects.filter(document_id__in=ids).order_by("document_id", "index").values_list("context", "content")
    return [embedding_text(context, content) for context, content in rows]


def bare_encode(texts: list[str], *, runs: int, torch: bool) -> dict[str, list[float]]:
    """chunks/s of the project's encoder alone (and of torch's with `torch`), `runs` times each."""
    from django.conf import settings

    from kb.pipeline import runtime

    rates: dict[str, list[float]] = {}
    encoders = {"onnx": runtime.embedder(settings.DEFAULT_EMBEDDING_MODEL)}
    if torch:
        from kb.pipeline.embed import load_sentence_transformer

        model = load_sentence_transformer(runtime.model_path(settings.DEFAULT_EMBEDDING_MODEL))
        encoders["torch"] = type("T", (), {"encode": staticmethod(
            lambda t, batch_size: model.encode(t, batch_size=batch_size, show_progress_bar=False)
        )})  # fmt: skip
    for name, encoder in encoders.items():
        encoder.encode(texts[:32], batch_size=32)  # warm-up, like the worker's
        for _ in range(runs):
            started, cpu = time.perf_counter(), time.process_time()
            encoder.encode(texts, batch_size=settings.EMBEDDING_BATCH_SIZE)
            rates.setdefault(name, []).append(len(texts) / (time.perf_counter() - started))
            rates.setdefault(f"{name} cpu", []).append(len(texts) / (time.process_time() - cpu))
    return rates


def report(
    label: str, ids, stats, texts: list[str], elapsed: float, cpu_by_kind: dict[str, float],
    rates: dict[str, list[float]], sample: int,
) -> None:  # fmt: skip
    from kb.models import Document

    n = len(texts)
    tokens = [d.token_count for d in Document.objects.filter(pk__in=ids)]
    print(f"[{label}] {len(ids)} documents, {n} chunks ({n / len(ids):.1f} per document, "
          f"mean {sum(tokens) / n:.0f} tokens incl. special; the model reads at most 256)")  # fmt: skip
    end_to_end = n / elapsed
    print(f"[{label}] end-to-end ingestion through the shipped worker: {end_to_end:6.1f} chunks/s ({elapsed:.1f}s)")
    on = f"{sample} of the texts" if sample < n else "the same texts"
    for name, runs in rates.items():
        if name.endswith(" cpu"):
            continue
        bare = sorted(runs)[len(runs) // 2]
        print(f"[{label}] bare {name} encode of {on}: {bare:6.1f} chunks/s "
              f"(median of {', '.join(f'{r:.1f}' for r in runs)})")  # fmt: skip
        print(f"[{label}] ratio end-to-end / bare {name}: {end_to_end / bare:6.2f}  (target >= 0.9)")
    # Per CPU-second: what the work costs, whatever share of the CPU the scheduler gave (shared machines).
    bare_cpu = sorted(rates["onnx cpu"])[len(rates["onnx cpu"]) // 2]
    cpu = sum(cpu_by_kind.values())
    print(f"[{label}] chunks per CPU-second: worker + its parse children + database backends {n / cpu:.1f}, "
          f"bare onnx encode {bare_cpu:.1f}; ratio {n / cpu / bare_cpu:.2f}")  # fmt: skip
    print(f"[{label}] CPU seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(cpu_by_kind.items()))
          + f"; the bare encode of as many chunks: {n / bare_cpu:.1f}")  # fmt: skip
    stages = {k: sum(st.get(k, 0) for st in stats) for k in ("parse_s", "chunk_s", "embed_s", "store_s")}
    print(f"[{label}] seconds per stage, summed over documents: "
          + ", ".join(f"{k[:-2]} {v:.1f}" for k, v in stages.items()))  # fmt: skip


def run_case(label: str, kb, user, paths, *, db_name: str, torch: bool, after=None):
    from django.db import connection

    from kb.models import Document

    with connection.cursor() as cur:
        cur.execute("TRUNCATE kb_embeddingcache")  # a cold cache: every chunk must be embedded
    worker = start_worker(db_name)
    try:
        warm_worker(kb, user)
        cpu_before = cpu_snapshot(worker)
        started = time.perf_counter()
        ids = ingest(kb, user, paths)
        wait_ready(ids)
        elapsed = time.perf_counter() - started
        cpu = cpu_used(cpu_before, cpu_snapshot(worker))
        stats = [d.stats for d in Document.objects.filter(pk__in=ids)]  # before a reindex (after) replaces them
        extra = after(kb, ids, elapsed) if after else None
    finally:
        stop_worker(worker)
    texts = embedded_texts(ids)
    sample = texts if len(texts) <= BARE_SAMPLE else texts[:: -(-len(texts) // BARE_SAMPLE)]
    rates = bare_encode(sample, runs=3, torch=torch)
    report(label, ids, stats, texts, elapsed, cpu, rates, len(sample))
    return extra


def reingest_costs(paths, user):
    def after(kb, ids, first):
        from kb.services import document_find_unchanged, file_sha256, kb_reindex

        started = time.perf_counter()
        for path in paths:  # `manage.py ingest` of the same files: unchanged ones are recognised and skipped
            with open(path, "rb") as fh:
                assert document_find_unchanged(kb=kb, name=path.name, content_hash=file_sha256(fh)[0])
        reingest = time.perf_counter() - started
        started = time.perf_counter()
        kb_reindex(kb=kb, user=user)
        wait_ready(ids)
        reindex = time.perf_counter() - started
        from kb.models import Document

        stats = [d.stats for d in Document.objects.filter(pk__in=ids)]
        hits = sum(s.get("embedding_cache_hits", 0) for s in stats)
        again = sum(s.get("embedded", 0) for s in stats)
        print(f"[large] re-ingest unchanged files (skipped): {reingest:.3f}s = {100 * reingest / first:.2f}% of first")
        print(f"[large] reindex (cached elements + embeddings): {reindex:.2f}s = {100 * reindex / first:.1f}% of first;"
              f" cache hits {hits}, embedded again {again}")  # fmt: skip

    return after


def small_pages(directory: Path, count: int) -> list[Path]:
    """`count` Markdown pages of about PAGE_CHARS characters of real documentation text: the Django docs' HTML
    pages parsed by the project's HTML parser, each page cut at element boundaries into parts (title kept)."""
    from kb.pipeline.parse_html import parse_html_bytes

    def render(element) -> str:
        if element.get("type") == "Title":
            return "#" * min(6, int(element.get("level") or 1)) + " " + element["text"]
        return ("- " if element.get("type") == "ListItem" else "") + element["text"]

    def pieces(block: str) -> list[str]:
        # A block longer than a page (a module's whole source listing) is cut at spaces into page-sized pieces:
        # kept whole it made pages of 200 chunks, and the case is about many small documents.
        out: list[str] = []
        while len(block) > PAGE_CHARS:
            cut = block.rfind(" ", 0, PAGE_CHARS)
            cut = cut if cut > 0 else PAGE_CHARS
            out.append(block[:cut])
            block = block[cut:].lstrip()
        return [*out, block] if block else out

    pages: list[Path] = []
    for html in sorted((CORPUS / "site").rglob("*.html")):
        blocks = [
            piece
            for e in parse_html_bytes(html.read_bytes())
            if e.get("text", "").strip()
            for piece in pieces(render(e))
        ]
        title = html.stem.replace("-", " ")
        part: list[str] = []
        size = 0
        for block in [*blocks, None]:
            if block is None or (size + len(block) > PAGE_CHARS and size):
                if size >= MIN_PAGE_CHARS:
                    path = directory / f"{html.parent.name}-{html.stem}-{len(pages):04d}.md"
                    path.write_text(f"# {title} ({len(pages) + 1})\n\n" + "\n\n".join(part) + "\n", encoding="utf-8")
                    pages.append(path)
                    if len(pages) == count:
                        return pages
                part, size = [], 0
            if block is not None:
                part.append(block)
                size += len(block) + 2
    if len(pages) < count:
        print(f"(the Django docs give only {len(pages)} pages of this size)")
    return pages


def bench_large(user, workspace, db_name, *, torch: bool):
    from kb.services import kb_create

    # ~1300 characters of English docs is ~256 word pieces: the chunk size the model reads whole.
    chunking = {
        "strategy": "recursive",
        "chunk_size": 1300,
        "chunk_overlap": 200,
        "separators": ["\n\n", "\n", ". ", " "],
    }
    kb = kb_create(workspace=workspace, user=user, name=f"bench-{time.time():.0f}", chunking_config=chunking)
    paths = [CORPUS / f for f in FILES]
    run_case("large", kb, user, paths, db_name=db_name, torch=torch, after=reingest_costs(paths, user))


def bench_small(user, workspace, db_name, *, pages: int, torch: bool):
    from kb.services import kb_create

    kb = kb_create(workspace=workspace, user=user, name=f"bench-small-{time.time():.0f}")  # default chunking
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp:
        paths = small_pages(Path(tmp), pages)
        run_case("small", kb, user, paths, db_name=db_name, torch=torch)


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
    parser.add_argument("--cases", default="large,small", help="comma-separated: large, small")
    parser.add_argument("--pages", type=int, default=1000, help="pages of the small-documents case")
    parser.add_argument("--torch", action="store_true", help="also time sentence-transformers' encode")
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument(
        "--worker",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an environment override for the worker only (WORKER_THREADS=2): not the shipped setup",
    )
    args = parser.parse_args()
    WORKER_OVERRIDES.update(item.split("=", 1) for item in args.worker)
    if WORKER_OVERRIDES:
        print(f"worker overrides (not the shipped settings): {WORKER_OVERRIDES}")
    db_name = "privexbot_bench"
    django_setup(db_name)
    print(machine())
    user, workspace = bench_user_and_workspace()
    cases = {c.strip() for c in args.cases.split(",") if c.strip()}
    if "large" in cases:
        bench_large(user, workspace, db_name, torch=args.torch)
    if "small" in cases:
        bench_small(user, workspace, db_name, pages=args.pages, torch=args.torch)
    if not args.skip_rss:
        bench_rss(user, workspace, db_name)


if __name__ == "__main__":
    main()
