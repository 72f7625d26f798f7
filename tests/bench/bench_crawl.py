"""Benchmark the website crawler on the whole Django docs site served from 127.0.0.1 (not a test).

    .venv/bin/python tests/bench/bench_crawl.py [--concurrency 5] [--baseline]

Crawls with max_pages 1000 and max_depth 10 (the site has 692 pages) and prints pages, seconds and pages/s,
next to the stack notes' ~18 s for a plain Scrapy crawl of the same site. --baseline also times a plain
Scrapy crawl (follow links, no parsing, no output) in a child process on this machine, under today's load.
"""

from __future__ import annotations

import argparse
import functools
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from drafts.crawler import CrawlConfig, start_crawl  # noqa: E402

SITE = ROOT.parent / "shared" / "corpus" / "site"
NOTES_SECONDS = 18.0  # /work/shared/stack-notes.md: plain Scrapy, 692 pages on 127.0.0.1

BASELINE = """
import sys, time
import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.linkextractors import LinkExtractor

start, port, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3])
count = 0

class Plain(scrapy.Spider):
    name = "plain"
    links = LinkExtractor()

    async def start(self):
        yield scrapy.Request(start)

    def parse(self, response):
        global count
        count += 1
        for link in self.links.extract_links(response):
            if link.url.startswith(f"http://127.0.0.1:{port}/"):
                yield scrapy.Request(link.url.split("#")[0])

began = time.monotonic()
process = CrawlerProcess({"LOG_LEVEL": "ERROR", "CONCURRENT_REQUESTS": concurrency, "TELNETCONSOLE_ENABLED": False})
process.crawl(Plain)
process.start()
print(count, round(time.monotonic() - began, 2))
"""


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, default=5)
    parser.add_argument("--baseline", action="store_true", help="also time a plain Scrapy crawl here")
    args = parser.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(SITE)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    start_url = f"http://127.0.0.1:{port}/index.html"
    config = CrawlConfig(
        allow_private=True, start_url=start_url, max_depth=10, max_pages=1000, concurrency=args.concurrency
    )

    with tempfile.TemporaryDirectory() as out_dir:
        began = time.monotonic()
        handle = start_crawl(config, out_dir=out_dir)
        first_page = None
        while not (progress := handle.poll()).finished:
            if first_page is None and progress.pages_processed:
                first_page = time.monotonic() - began
            time.sleep(0.05)
        handle.wait()
        seconds = time.monotonic() - began
        results = list(handle.pages())
        jsonl_mb = (Path(out_dir) / "pages.jsonl").stat().st_size / 1e6

    stored = [r for r in results if r.ok]
    outcomes = Counter(r.error or r.skipped_reason or "stored" for r in results)
    rate = len(stored) / seconds
    print(f"crawler     : {len(stored)} pages stored, {len(results)} URLs, {seconds:.1f} s, {rate:.1f} pages/s")
    print(f"{'':14}concurrency {args.concurrency}; first page after {first_page or 0:.1f} s; error={progress.error}")
    print(f"{'':14}outcomes: {dict(outcomes.most_common())}")
    print(f"{'':14}elements: {sum(len(r.elements) for r in stored)}; pages.jsonl {jsonl_mb:.1f} MB")
    print(f"stack notes : plain Scrapy ~{NOTES_SECONDS:.0f} s -> this crawl takes {seconds / NOTES_SECONDS:.2f}x that")
    if args.baseline:
        cmd = [sys.executable, "-c", BASELINE, start_url, str(port), str(args.concurrency)]
        began = time.monotonic()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
        wall = time.monotonic() - began
        print(f"baseline    : plain Scrapy here: {out[0]} pages, {out[1]} s crawling, {wall:.1f} s with start-up")
    server.shutdown()


if __name__ == "__main__":
    main()
