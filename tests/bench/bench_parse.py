"""Parse benchmark: `python tests/bench/bench_parse.py [--skip-octave]`. Prints figures; asserts nothing.

- PDF pages/s on the corpus PDFs (in-process, after a warm-up so imports are not counted),
- octave.pdf (1,158 pages) in the limited child process: wall time and the child's peak RSS,
- HTML pages/s of the fast lxml path on the whole Django docs site, against unstructured's
  partition_html on a fixed sample as the baseline.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from privexbot.env import OFFLINE_ENVIRONMENT  # noqa: E402

# No Django settings here to set them: unstructured must not phone home when it parses in this process.
for _key, _value in OFFLINE_ENVIRONMENT.items():
    os.environ.setdefault(_key, _value)

from kb.pipeline.parse import parse_file, parse_in_subprocess, shutdown_child  # noqa: E402
from kb.pipeline.parse_html import parse_html_bytes  # noqa: E402
from kb.pipeline.parse_unstructured import prepare_unstructured  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
PDF_TARGET, HTML_TARGET, RSS_TARGET_MB = 15, 20, 2048
BASELINE_SAMPLE = 8


def page_count(path: Path) -> int:
    import pikepdf

    with pikepdf.open(path) as pdf:
        return len(pdf.pages)


def bench_pdfs() -> None:
    print("== PDF, in-process, strategy=fast (warm)")
    prepare_unstructured()
    parse_file(path=str(CORPUS / "pdf/broken/issue-297.pdf"), filetype="pdf")  # warm-up: imports, spaCy
    total_pages = total_s = total_cpu = 0.0
    for path in sorted((CORPUS / "pdf").glob("*.pdf"), key=page_count):
        if path.name == "octave.pdf":
            continue
        pages = page_count(path)
        started, cpu_started = time.perf_counter(), time.process_time()
        elements = parse_file(path=str(path), filetype="pdf")
        took, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        total_pages += pages
        total_s += took
        total_cpu += cpu
        print(
            f"  {path.name:18s} {pages:5d} pages {took:7.2f} s {pages / took:6.1f} pages/s "
            f"(CPU {cpu:6.2f} s, {pages / cpu:5.1f} pages/CPU-s) {len(elements):6d} elements"
        )
    # On a shared machine wall time depends on the neighbours; pages per CPU-second does not.
    print(
        f"  TOTAL {total_pages:.0f} pages {total_s:.1f} s -> {total_pages / total_s:.1f} pages/s, "
        f"{total_pages / total_cpu:.1f} pages/CPU-s (target {PDF_TARGET}); load avg {os.getloadavg()[0]:.1f}"
    )


def bench_octave() -> None:
    path = CORPUS / "pdf/octave.pdf"
    pages = page_count(path)
    print(f"== octave.pdf ({pages} pages) in the child process (memory_mb=2048), incl. ~5 s child start-up")
    started = time.perf_counter()
    [result] = parse_in_subprocess([(str(path), "pdf")], memory_mb=2048, timeout=1800)
    took = time.perf_counter() - started
    shutdown_child()  # the persistent child must exit for RUSAGE_CHILDREN to include it
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_mb = usage.ru_maxrss / 1024  # KiB on Linux
    cpu = usage.ru_utime + usage.ru_stime
    outcome = f"{len(result)} elements" if isinstance(result, list) else f"ERROR {result.code}: {result.message}"
    print(f"  {took:.1f} s -> {pages / took:.1f} pages/s, {pages / cpu:.1f} pages/CPU-s; {outcome}")
    print(f"  child peak RSS {peak_mb:.0f} MB (target <= {RSS_TARGET_MB})")


def bench_html() -> None:
    pages = sorted((CORPUS / "site").rglob("*.html"))
    blobs = [p.read_bytes() for p in pages]
    started = time.perf_counter()
    count = sum(len(parse_html_bytes(blob)) for blob in blobs)
    took = time.perf_counter() - started
    fast_rate = len(pages) / took
    print(f"== HTML fast path: {len(pages)} pages {took:.2f} s -> {fast_rate:.0f} pages/s (target {HTML_TARGET})")
    print(f"  {count} elements")

    from unstructured.partition.html import partition_html

    sample = pages[:: max(1, len(pages) // BASELINE_SAMPLE)][:BASELINE_SAMPLE]
    started = time.perf_counter()
    for page in sample:
        partition_html(filename=str(page))
    took = time.perf_counter() - started
    base_rate = len(sample) / took
    print(
        f"  baseline partition_html on {len(sample)} pages: {base_rate:.2f} pages/s; "
        f"fast path x{fast_rate / base_rate:.0f}"
    )


def main() -> None:
    prepare_unstructured()  # offline spaCy model (and its faster tokenizers) for the baseline too
    bench_html()
    bench_pdfs()
    if "--skip-octave" not in sys.argv:
        bench_octave()


if __name__ == "__main__":
    main()
