"""The child's output: pages.jsonl (one line per URL, flushed) and progress.json (replaced atomically).

The parent only ever reads these two files, so it can show progress while the crawl runs and still read
everything written so far after the child is cancelled or dies.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from drafts.crawler.results import CrawlProgress, PageResult

PAGES_FILE = "pages.jsonl"
PROGRESS_FILE = "progress.json"


class Recorder:
    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self.progress = CrawlProgress()
        # Line-buffered: every complete line reaches the file as soon as it is written.
        self._pages = open(self.out_dir / PAGES_FILE, "w", encoding="utf-8", buffering=1)  # noqa: SIM115
        self.write_progress()

    def record(self, result: PageResult) -> None:
        self._pages.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        if result.error is not None:
            self.progress.pages_failed += 1
        elif result.skipped_reason is not None:
            self.progress.pages_skipped += 1
        else:
            self.progress.pages_processed += 1
        self.write_progress()

    def set_found(self, count: int) -> None:
        self.progress.pages_found = count  # written out with the next record; cheap to call per link

    def finish(self, *, error: str | None) -> None:
        if self.progress.finished:
            return
        self.progress.finished = True
        self.progress.error = error
        self._pages.flush()
        self.write_progress()

    def write_progress(self) -> None:
        path = self.out_dir / PROGRESS_FILE
        tmp = path.with_name(f".{PROGRESS_FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.progress.to_dict()), encoding="utf-8")
        os.replace(tmp, path)  # readers see the old file or the new one, never half of one
