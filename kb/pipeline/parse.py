"""Pipeline step 1: turn a checked file into normalised Elements.

Cheap to import (the web process imports it): every heavy library is imported inside the parser
that needs it. Production parsing goes through parse_in_subprocess so that a hostile or broken
file can only take down a child process with memory, CPU and wall-clock limits.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from kb.pipeline.budget import ParseBudget
from kb.pipeline.parse_common import corrupt
from kb.pipeline.parse_html import html_title, parse_html_string
from kb.pipeline.types import Element, PipelineError

__all__ = ["configured_budget", "html_title", "parse_file", "parse_html_string", "parse_in_subprocess"]

logger = logging.getLogger(__name__)

_PROJECT_ROOT = str(Path(__file__).resolve().parents[2])
_POLL_SECONDS = 0.05
_FIRST_POLL_SECONDS = 0.002


def parse_file(
    *, path: str, filetype: str, pdf_part_pages: int = 0, on_part: Callable[[list, int, int], None] | None = None
) -> list[Element]:
    """Parse in this process. Raises PipelineError; never leaks a raw exception to the user.

    A PDF longer than `pdf_part_pages` (0: never) is read in page ranges of that size (kb.pipeline.pdf_split),
    with `on_part` each range's elements go to `on_part(elements, pages done, pages total)` instead of the list
    returned (kb.pipeline.parse_unstructured.parse_pdf; it checks that some text was found)."""
    parser = _parser_for(filetype)
    streamed = filetype == "pdf" and bool(pdf_part_pages) and on_part is not None
    if filetype == "pdf" and pdf_part_pages:
        parser = functools.partial(parser, part_pages=pdf_part_pages, on_part=on_part)
    try:
        elements = parser(path)
    except (PipelineError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - the error boundary: one short message per file
        logger.info("parser failed on %s (%s)", path, filetype, exc_info=True)
        raise corrupt(filetype, exc) from exc
    if not elements and not streamed:
        raise PipelineError("no_text", f"No text found in this {filetype.upper()} file.")
    return elements


def _parser_for(filetype: str) -> Callable[[str], list[Element]]:
    from kb.pipeline import parse_tables, parse_unstructured

    parsers = {
        "pdf": parse_unstructured.parse_pdf,
        "docx": parse_unstructured.parse_docx,
        "txt": parse_unstructured.parse_txt,
        "md": _parse_md,
        "html": _parse_html_file,
        "csv": parse_tables.parse_csv,
        "xlsx": parse_tables.parse_xlsx,
    }
    if filetype not in parsers:
        raise PipelineError("unsupported_type", f"Files of type {filetype!r} cannot be parsed.")
    return parsers[filetype]


def _parse_md(path: str) -> list[Element]:
    from kb.pipeline.filecheck import decode_text
    from kb.pipeline.parse_html import parse_markdown

    with open(path, "rb") as fh:
        return parse_markdown(decode_text(fh.read()))


def _parse_html_file(path: str) -> list[Element]:
    from kb.pipeline.parse_html import parse_html_bytes

    with open(path, "rb") as fh:
        return parse_html_bytes(fh.read())


# ------------------------------------------------------------------------------------ child process


def parse_in_subprocess(
    items: list[tuple[str, str]], *, memory_mb: int = 2048, cpu_seconds: int = 300, timeout: float = 600,
    budget: ParseBudget | None = None, organization_id=None, pdf_part_pages: int | None = None,
    on_progress: Callable[[int, int, int], None] | None = None,
) -> list[list[Element] | PipelineError]:  # fmt: skip
    """Parse (path, filetype) items in child processes; one result per item, in order.

    Items share a child to pay the import cost once. Limits apply per item: `memory_mb` of
    address space (RLIMIT_AS), `cpu_seconds` of CPU and `timeout` wall-clock seconds — or, with a
    `budget` (what the workers pass: configured_budget()), CPU and wall clock that follow each file's size
    and pages, with `timeout` as the wall-clock ceiling. When a child dies, finished items keep their
    results, the item it was on fails alone, and the remaining items continue in a fresh child.

    A child only ever serves one tenant: `organization_id` (what the workers pass) picks this thread's child,
    and a child that served another organization is retired first, so a file that takes a parser over sees
    no other tenant's files or text. None (tests, benchmarks) is a tenant of its own.

    A PDF longer than `pdf_part_pages` (None: settings.PARSE_PDF_PAGES_PER_PART; 0: never) is read in page
    ranges, and `on_progress(item index, pages done, pages total)` is called (in this thread) after each range.
    """
    if pdf_part_pages is None:
        pdf_part_pages = configured_part_pages()
    results: list[list[Element] | PipelineError | None] = [None] * len(items)
    while pending := [i for i, result in enumerate(results) if result is None]:
        started_any = _run_child(
            items, pending, results, memory_mb=memory_mb, cpu_seconds=cpu_seconds, timeout=timeout, budget=budget,
            tenant=None if organization_id is None else str(organization_id), pdf_part_pages=pdf_part_pages,
            on_progress=on_progress,
        )  # fmt: skip
        if not started_any:
            # The child could not even start (broken install?): retrying would loop forever.
            for i in pending:
                if results[i] is None:
                    results[i] = PipelineError(
                        "parser_unavailable",
                        "The document parser could not start; try again later.",
                        permanent=False,
                    )
    return results  # type: ignore[return-value]


# A child serves many requests (the imports of unstructured cost seconds); it is retired after
# this many items so that memory fragmentation or leaks in the parsers cannot accumulate.
CHILD_MAX_ITEMS = 200
_children = threading.local()


class _Child:
    """One parse child: its limits, the tenant it serves, and its private TMPDIR (privexbot.sandbox).

    Sandboxed: the environment holds no secret (child_environment), TMPDIR is a 0700 directory of this
    process that is wiped before and after every item, the network is an empty namespace where the machine
    allows it (privexbot.sandbox.network_isolation) and no socket can be created (privexbot.confine, Unix
    sockets included), and the child dies with this process (PR_SET_PDEATHSIG, set by the child itself) so a
    killed worker leaves no parser running on a tenant's file."""

    def __init__(self, memory_mb: int, cpu_seconds: int, tenant: str | None):
        from privexbot import sandbox
        from privexbot.childlimits import rlimits

        self.limits = _child_key(memory_mb, cpu_seconds)
        self.tenant = tenant
        test_hooks = self.limits[2]
        self.items = 0
        self.tmpdir = sandbox.make_private_dir("child-")
        self.stderr = tempfile.TemporaryFile(dir=sandbox.process_dir())  # noqa: SIM115 - lives as long as the child
        command = [
            *sandbox.network_isolation(), sys.executable, "-m", "kb.pipeline.parse_child", "--serve",
            f"--parent-pid={os.getpid()}", f"--tmpdir={self.tmpdir}", *(["--test-hooks"] if test_hooks else []),
            *(["--no-sockets"] if sandbox.isolation_mode() != "off" else []),
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            command,
            env=_child_env(self.tmpdir),
            cwd=_PROJECT_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
            preexec_fn=rlimits(memory_mb=memory_mb, cpu_seconds=cpu_seconds),  # noqa: PLW1509 - only setrlimit
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, request: str, output: str) -> None:
        self.proc.stdin.write((json.dumps({"request": request, "output": output}) + "\n").encode())
        self.proc.stdin.flush()

    def stderr_tail(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()[-2000:].decode("utf-8", "replace")

    def close(self, *, kill: bool = False) -> None:
        if self.alive():
            if kill:
                self.proc.kill()
            else:
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def shutdown_child() -> None:
    """Retire this thread's parse child (it exits once idle); the next parse starts a fresh one."""
    child = getattr(_children, "child", None)
    if child is not None:
        child.close()
        _children.child = None


def _child_key(memory_mb: int, cpu_seconds: int) -> tuple:
    # What a child is started with: its limits and whether it obeys the test hooks (settings.PARSE_TEST_HOOKS;
    # off where Django is not configured, e.g. tests/bench/bench_parse.py).
    from django.conf import settings

    return memory_mb, cpu_seconds, bool(settings.configured and settings.PARSE_TEST_HOOKS)


def _child_for(memory_mb: int, cpu_seconds: int, tenant: str | None) -> _Child:
    child = getattr(_children, "child", None)
    if child is not None and (
        not child.alive()
        or child.limits != _child_key(memory_mb, cpu_seconds)
        or child.tenant != tenant  # a fresh child per tenant: nothing of one organization's files reaches another's
        or child.items >= CHILD_MAX_ITEMS
    ):
        child.close()
        child = None
    if child is None:
        child = _children.child = _Child(memory_mb, cpu_seconds, tenant)
    return child


def _run_child(
    items, pending, results, *, memory_mb: int, cpu_seconds: int, timeout: float, budget=None, tenant=None,
    pdf_part_pages: int = 0, on_progress=None,
) -> bool:  # fmt: skip
    """Run `pending` through this thread's child for `tenant`, filling `results`; return whether it started any
    item. A child that dies or hangs is discarded; the next call starts a fresh one. The request and the
    results (all the extracted text) live in a private directory of this process (privexbot.sandbox)."""
    from privexbot import sandbox

    with sandbox.scratch("kbparse-") as tmp:
        request = os.path.join(tmp, "request.json")
        output = os.path.join(tmp, "results.jsonl")
        with open(request, "w") as fh:
            request_body = {"items": [[i, *items[i]] for i in pending], "cpu_seconds": cpu_seconds}
            request_body["pdf_part_pages"] = pdf_part_pages
            if budget is not None:
                request_body["budget"] = budget.as_dict()
            json.dump(request_body, fh)
        monitor = _ChildMonitor(output, timeout=timeout, budget=budget, on_progress=on_progress)
        for _attempt in range(2):  # a child that exited since its last request gets replaced once
            child = _child_for(memory_mb, cpu_seconds, tenant)
            try:
                child.send(request, output)
                break
            except OSError:
                child.close(kill=True)
                _children.child = None
        else:
            return False
        killed_for_timeout = _watch(child.proc, monitor, results)
        monitor.read(results)
        child.items += len(pending)
        if monitor.current is not None and results[monitor.current] is None:
            results[monitor.current] = _death_error(child.proc.returncode, killed_for_timeout, monitor.current_timeout)
            logger.warning(
                "parse child died (rc=%s) on item %s: %s", child.proc.returncode, monitor.current, child.stderr_tail()
            )
        if not monitor.ended or monitor.child_exiting:
            child.close(kill=not monitor.ended)
            _children.child = None
        else:  # the child wiped it after each item; a parser it ran may still have left something behind
            sandbox.wipe(child.tmpdir)
        return monitor.started_any


def _watch(proc: subprocess.Popen, monitor: _ChildMonitor, results) -> bool:
    """Poll until the request ends or the child exits; kill it when one item exceeds its wall-clock limit.
    The first polls come quickly: a small page parses in a few milliseconds, and a fixed 50 ms wait was most of
    its parse stage (issue 18's many-small-documents case); a long parse is polled every _POLL_SECONDS."""
    delay = _FIRST_POLL_SECONDS
    while not monitor.ended and proc.poll() is None:
        time.sleep(delay)
        delay = min(_POLL_SECONDS, delay * 2)
        monitor.read(results)
        if monitor.current is not None and time.monotonic() - monitor.current_since > monitor.current_timeout:
            proc.kill()
            proc.wait()
            return True
    return False


class _ChildMonitor:
    """Follows the child's JSON-lines output: which item is running, which are done."""

    def __init__(self, path: str, *, timeout: float, budget: ParseBudget | None = None, on_progress=None) -> None:
        self.path = path
        self.on_progress = on_progress
        self.parts: dict[int, list] = {}  # elements of a long PDF's ranges, by item, until the item is done
        self.timeout, self.budget = timeout, budget
        self.current_timeout = timeout  # the running item's wall-clock limit
        self.offset = 0
        self.current: int | None = None
        self.current_since = 0.0
        self.started_any = False
        self.ended = False
        self.child_exiting = False
        self._partial = b""

    def read(self, results) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return
        self.offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()  # an incomplete last line waits for the next read
        for line in lines:
            self._handle(json.loads(line), results)

    def _handle(self, record: dict, results) -> None:
        if "end" in record:
            self.ended = True
            self.child_exiting = bool(record.get("exiting"))
            return
        if "start" in record:
            self.current, self.current_since, self.started_any = record["start"], time.monotonic(), True
            if self.budget is not None:  # until the child has measured the file: the base budget's wall clock
                self.current_timeout = self.budget.wall_seconds(int(self.budget.base_seconds), self.timeout)
            return
        if "budget" in record:
            self.current_timeout = self.budget.wall_seconds(record["cpu_seconds"], self.timeout)
            return
        if "part" in record:  # a range of a long PDF: its elements wait here for the item's end
            self.parts.setdefault(record["part"], []).extend(record["elements"])
            self._report(record["part"], record["pages_done"], record["pages_total"])
            return
        index = record["done"]
        error = record.get("error")
        parts = self.parts.pop(index, [])
        results[index] = PipelineError(**error) if error else parts + record["elements"]
        if index == self.current:
            self.current = None

    def _report(self, index: int, done: int, total: int) -> None:
        if self.on_progress is None:
            return
        try:
            self.on_progress(index, done, total)
        except Exception:  # noqa: BLE001 - a failed progress write must not abandon a running child
            logger.warning("parse progress callback failed", exc_info=True)


def _death_error(returncode: int | None, killed_for_timeout: bool, timeout: float) -> PipelineError:
    if killed_for_timeout:
        return PipelineError("timeout", f"Parsing this file took longer than {timeout:.0f} seconds and was stopped.")
    if returncode == -signal.SIGXCPU:
        return PipelineError("resource_limit", "Parsing this file used too much CPU time and was stopped.")
    return PipelineError(
        "resource_limit",
        "Parsing this file ran out of memory or crashed the parser; the file may be damaged.",
    )


def configured_part_pages() -> int:
    """Pages per range of a long PDF (settings.PARSE_PDF_PAGES_PER_PART), or the default outside Django."""
    from django.conf import settings

    from kb.pipeline.pdf_split import DEFAULT_PART_PAGES

    return settings.PARSE_PDF_PAGES_PER_PART if settings.configured else DEFAULT_PART_PAGES


def configured_budget() -> ParseBudget:
    """The workers' parse budget, from settings (PARSE_CPU_*)."""
    from django.conf import settings

    return ParseBudget(
        base_seconds=settings.PARSE_CPU_BASE_SECONDS, per_page_seconds=settings.PARSE_CPU_PER_PAGE,
        per_mb_seconds=settings.PARSE_CPU_PER_MB, ceiling_seconds=settings.PARSE_CPU_CEILING,
    )  # fmt: skip


def _child_env(tmpdir: Path | None = None) -> dict[str, str]:
    """The basics and the offline flags only (privexbot.env.child_environment): a file that takes the parser
    over finds no secret in its environment. The child does not load Django settings. TMPDIR is the child's
    private directory, so every temporary file a parser makes (kbpdf-*/repaired.pdf, ...) lands there."""
    from privexbot.env import child_environment

    threads = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    env = child_environment(pythonpath=[_PROJECT_ROOT], inherit=threads)
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    for name in threads:  # one BLAS/OpenMP thread unless the operator chose: one of several workers on a small box
        env.setdefault(name, "1")
    return env
