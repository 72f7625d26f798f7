"""Parent side: start the crawl child and read its output files. Never imports Scrapy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from drafts.crawler.config import CrawlConfig, validate_crawl_config
from drafts.crawler.recorder import PAGES_FILE, PROGRESS_FILE
from drafts.crawler.results import CrawlProgress, PageResult
from privexbot.env import child_environment

REPO_ROOT = Path(__file__).resolve().parents[2]
LOG_FILE = "crawler.log"
KILL_AFTER_SECONDS = 3.0


class CrawlHandle:
    """A crawl running in a child process. Safe to poll from another process too: all state is in out_dir."""

    def __init__(self, process: subprocess.Popen, out_dir: Path) -> None:
        self._process = process
        self.out_dir = out_dir
        self._offset = 0  # bytes of pages.jsonl already returned by pages()
        self._cancelled = False

    @property
    def pid(self) -> int:
        return self._process.pid

    def poll(self) -> CrawlProgress:
        progress = _read_progress(self.out_dir / PROGRESS_FILE)
        code = self._process.poll()
        if code is None or progress.finished:
            return progress
        progress.finished = True
        if self._cancelled:
            progress.error = "cancelled"
        else:  # killed (OOM, SIGKILL) or crashed before it could write its final state
            progress.error = f"crawler process exited unexpectedly (exit code {code}){self._log_tail()}"
        return progress

    def pages(self) -> Iterator[PageResult]:
        """Results written since the last call. Read eagerly, so an abandoned iteration loses nothing."""
        try:
            with open(self.out_dir / PAGES_FILE, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            return iter(())
        end = data.rfind(b"\n") + 1  # a line without its newline is still being written
        self._offset += end
        return iter([PageResult.from_dict(json.loads(line)) for line in data[:end].splitlines() if line.strip()])

    def cancel(self) -> None:
        if self._process.poll() is not None:
            return
        self._cancelled = True
        self._process.terminate()
        try:
            self._process.wait(timeout=KILL_AFTER_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def wait(self, timeout: float | None = None) -> CrawlProgress:
        """Wait for the child to end; after `timeout` seconds return the progress so far (finished=False)."""
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        return self.poll()

    def __enter__(self) -> CrawlHandle:
        return self

    def __exit__(self, *exc_info) -> None:
        self.cancel()

    def _log_tail(self) -> str:
        try:
            lines = (self.out_dir / LOG_FILE).read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except OSError:
            return ""
        return f": {lines[-1][:300]}" if lines else ""


def start_crawl(config: CrawlConfig, *, out_dir: str | os.PathLike) -> CrawlHandle:
    """Start a crawl in a child process writing to out_dir (created; earlier output there is replaced)."""
    config = validate_crawl_config(asdict(config))  # fail here, not as a message from the child
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in (PAGES_FILE, PROGRESS_FILE):
        (out / name).unlink(missing_ok=True)
    # Everything the child needs is in `config` (it loads no Django settings); from the environment it gets the
    # basics and an outbound HTTP proxy, if one is configured, but no secret: it parses pages from anywhere.
    # No proxy variables: a proxy resolves names itself, which would bypass the crawler's address guard.
    env = child_environment(pythonpath=[str(REPO_ROOT)])
    cmd = [sys.executable, "-m", "drafts.crawler.child", json.dumps(asdict(config)), str(out)]
    with open(out / LOG_FILE, "wb") as log:
        process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd=REPO_ROOT)
    return CrawlHandle(process, out)


def crawl(config: CrawlConfig, *, out_dir: str | os.PathLike) -> list[PageResult]:
    """Run a crawl to the end and return every result (failed URLs included: check .error / .ok)."""
    handle = start_crawl(config, out_dir=out_dir)
    handle.wait()
    return list(handle.pages())


def _read_progress(path: Path) -> CrawlProgress:
    try:
        return CrawlProgress.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return CrawlProgress()  # the child has not started writing yet
