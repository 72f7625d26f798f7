"""Parent side: start the crawl child and read its output files. Never imports Scrapy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from drafts.crawler.config import CrawlConfig, validate_crawl_config
from drafts.crawler.recorder import PAGES_FILE, PROGRESS_FILE
from drafts.crawler.results import CrawlProgress, PageResult
from privexbot.childlimits import rlimits
from privexbot.env import child_environment

REPO_ROOT = Path(__file__).resolve().parents[2]
LOG_FILE = "crawler.log"
# Re-syncs: {url_key: {"etag", "last_modified", "links"}} of the pages a KB already holds. A file, not an
# argument: a big site's map would pass the kernel's limit on one argument's length.
KNOWN_FILE = "known.json"
KILL_AFTER_SECONDS = 3.0
# The child stops itself at its wall-clock limit (SIGALRM) and at its CPU limit (SIGXCPU), recording why;
# these grace periods are how long it has to do so before the parent (wall clock) or the kernel (CPU) kills it.
WALL_CLOCK_GRACE_SECONDS = 10.0
CPU_GRACE_SECONDS = 5


@dataclass(frozen=True)
class CrawlLimits:
    """Per crawl child: CPU seconds (RLIMIT_CPU), address space in MB (RLIMIT_AS), wall-clock seconds."""

    cpu_seconds: int = 600
    memory_mb: int = 1024
    max_seconds: int = 1800

    @classmethod
    def from_settings(cls) -> CrawlLimits:
        """CRAWL_CPU_SECONDS, CRAWL_MEMORY_MB and CRAWL_MAX_SECONDS when Django is configured, else defaults."""
        from django.conf import settings

        if not settings.configured:
            return cls()
        return cls(settings.CRAWL_CPU_SECONDS, settings.CRAWL_MEMORY_MB, settings.CRAWL_MAX_SECONDS)

    def messages(self) -> dict[str, str]:
        return {
            "time": f"crawl stopped: it ran longer than {self.max_seconds} seconds (CRAWL_MAX_SECONDS)",
            "cpu": f"crawl stopped: it used more than {self.cpu_seconds} seconds of CPU time (CRAWL_CPU_SECONDS)",
            "memory": f"crawl stopped: it needed more than {self.memory_mb} MB of memory (CRAWL_MEMORY_MB)",
        }


class CrawlHandle:
    """A crawl running in a child process. Safe to poll from another process too: all state is in out_dir."""

    def __init__(self, process: subprocess.Popen, out_dir: Path, limits: CrawlLimits | None = None) -> None:
        self._process = process
        self.out_dir = out_dir
        self.limits = limits or CrawlLimits()
        self._offset = 0  # bytes of pages.jsonl already returned by pages()
        self._cancelled = False
        self._timed_out = False
        self._kill_at = time.monotonic() + self.limits.max_seconds + WALL_CLOCK_GRACE_SECONDS

    @property
    def pid(self) -> int:
        return self._process.pid

    def poll(self) -> CrawlProgress:
        self._enforce_wall_clock()
        progress = _read_progress(self.out_dir / PROGRESS_FILE)
        code = self._process.poll()
        if code is None or progress.finished:
            return progress
        progress.finished = True
        progress.error = self._death_reason(code)
        return progress

    def _death_reason(self, code: int) -> str:
        """Why a child ended without writing its final state: cancelled, a limit, or a crash."""
        messages = self.limits.messages()
        if self._cancelled:
            return "cancelled"
        if self._timed_out:
            return messages["time"]
        if code == -signal.SIGXCPU:
            return messages["cpu"]
        tail = self._log_tail()
        if "MemoryError" in tail or "Cannot allocate memory" in tail:
            return messages["memory"]
        # killed (OOM, SIGKILL) or crashed before it could write its final state
        return f"crawler process exited unexpectedly (exit code {code}){tail}"

    def _enforce_wall_clock(self) -> None:
        """The child stops itself at max_seconds; one that cannot (stuck in C code) is killed here."""
        if self._process.poll() is None and time.monotonic() > self._kill_at:
            self._timed_out = True
            self._process.kill()
            self._process.wait()

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
        """Wait for the child to end; after `timeout` seconds return the progress so far (finished=False).
        Never longer than the crawl's wall-clock limit (plus its grace period)."""
        until = self._kill_at if timeout is None else min(self._kill_at, time.monotonic() + timeout)
        try:
            self._process.wait(timeout=max(0.0, until - time.monotonic()))
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


def start_crawl(
    config: CrawlConfig, *, out_dir: str | os.PathLike, limits: CrawlLimits | None = None, known: dict | None = None
) -> CrawlHandle:
    """Start a crawl in a child process writing to out_dir (created; earlier output there is replaced).
    `limits` defaults to the CRAWL_CPU_SECONDS / CRAWL_MEMORY_MB / CRAWL_MAX_SECONDS settings. `known` (re-syncs):
    pages already held, requested with If-None-Match / If-Modified-Since (see KNOWN_FILE)."""
    config = validate_crawl_config(asdict(config))  # fail here, not as a message from the child
    limits = limits or CrawlLimits.from_settings()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in (PAGES_FILE, PROGRESS_FILE, KNOWN_FILE):
        (out / name).unlink(missing_ok=True)
    if known:
        (out / KNOWN_FILE).write_text(json.dumps(known), encoding="utf-8")
    # Everything the child needs is in `config` and `limits` (it loads no Django settings); from the environment
    # it gets the basics but no secret, since it parses pages from anywhere. No proxy variables either: a proxy
    # resolves names itself, which would bypass the crawler's pinned, vetted addresses (the child also refuses
    # to use one; see child.py).
    # Its TMPDIR is inside out_dir: private when out_dir is (drafts.processing gives it one of privexbot.sandbox).
    child_tmp = out / "tmp"
    child_tmp.mkdir(mode=0o700, exist_ok=True)
    env = child_environment(pythonpath=[str(REPO_ROOT)], TMPDIR=str(child_tmp))
    cmd = [
        sys.executable,
        "-m",
        "drafts.crawler.child",
        json.dumps(asdict(config)),
        str(out),
        json.dumps(asdict(limits)),
    ]
    with open(out / LOG_FILE, "wb") as log:
        process = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            cwd=REPO_ROOT,
            preexec_fn=rlimits(  # noqa: PLW1509 - only setrlimit, no locks
                memory_mb=limits.memory_mb, cpu_seconds=limits.cpu_seconds, cpu_grace_seconds=CPU_GRACE_SECONDS
            ),
        )
    return CrawlHandle(process, out, limits)


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
