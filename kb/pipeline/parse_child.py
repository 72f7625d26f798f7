"""Entry point of the parse child process: `python -m kb.pipeline.parse_child REQUEST OUTPUT`, or
`python -m kb.pipeline.parse_child --serve` to handle one request per stdin line (see serve()).
`--test-hooks` (the parent passes it when settings.PARSE_TEST_HOOKS is on) makes "_test_*" file types
exhaust memory, crash or hang, for tests/kb/test_parse.py.

The child does not load Django settings: kb.pipeline.parse starts it with privexbot.env.child_environment(),
which carries the offline flags unstructured and the HF stack read at import time, and no secrets. With
`--tmpdir=DIR` (its private TMPDIR, privexbot.sandbox) it empties DIR before and after every item, so nothing a
parser wrote for one file is there for the next; with `--parent-pid=PID` it dies with its parent
(PR_SET_PDEATHSIG): a killed worker leaves no parser holding a tenant's file; with `--no-sockets` it cannot
create a socket of any kind (privexbot.confine: seccomp), Unix sockets under var/ included.

REQUEST is JSON {"items": [[index, path, filetype], ...], "cpu_seconds": N} — or with "budget" (a
kb.pipeline.budget.ParseBudget) each file's CPU budget follows its size and pages; with "pdf_part_pages" a
longer PDF is read in page ranges of that size (kb.pipeline.pdf_split). For each item the child appends
{"start": index} (with a budget, then {"budget": index, "cpu_seconds": N}), for a PDF read in ranges
{"part": index, "elements": [...], "pages_done": D, "pages_total": T} after each range (its elements: the child
never holds a long PDF's elements all at once), and then {"done": index, "elements": [...]} (the rest) or
{"done": index, "error": {...}} to OUTPUT (JSON lines, flushed), so the parent always knows which item was
running if the child dies, and how far it got.
"""

from __future__ import annotations

import functools
import json
import math
import os
import resource
import signal
import sys
import time
from pathlib import Path

from kb.pipeline.budget import ParseBudget, file_budget
from kb.pipeline.parse import parse_file
from kb.pipeline.types import PipelineError


def main(request_path: str, output_path: str, *, test_hooks: bool = False, tmpdir: str | None = None) -> int:
    with open(request_path) as fh:
        request = json.load(fh)
    with open(output_path, "a", encoding="utf-8") as out:
        budget = ParseBudget(**request["budget"]) if request.get("budget") else None
        part_pages = int(request.get("pdf_part_pages") or 0)
        for index, path, filetype in request["items"]:
            if budget is None:
                _reset_cpu_budget(request["cpu_seconds"])
                _emit(out, {"start": index})
            else:  # the file's own budget (kb.pipeline.budget), counted under the base budget
                _reset_cpu_budget(int(budget.base_seconds))
                _emit(out, {"start": index})
                cpu_seconds = file_budget(path, filetype, budget) if not filetype.startswith("_test_") else None
                cpu_seconds = cpu_seconds or int(budget.base_seconds)
                _reset_cpu_budget(cpu_seconds)
                _emit(out, {"budget": index, "cpu_seconds": cpu_seconds})
            _wipe(tmpdir)
            try:
                on_part = functools.partial(_emit_part, out, index)
                elements = _parse(path, filetype, test_hooks=test_hooks, part_pages=part_pages, on_part=on_part)
            except PipelineError as exc:
                _emit(out, {"done": index, "error": _error_dict(exc)})
            except MemoryError:
                error = PipelineError("resource_limit", "Parsing this file ran out of memory and was stopped.")
                _emit(out, {"done": index, "error": _error_dict(error)})
                return 3  # the heap may be in a bad state: let the parent start a fresh child
            else:
                _emit(out, {"done": index, "elements": elements})
            finally:
                _wipe(tmpdir)
    return 0


def _wipe(tmpdir: str | None) -> None:
    if tmpdir:
        from privexbot.sandbox import wipe

        wipe(Path(tmpdir))


def _parse(path: str, filetype: str, *, test_hooks: bool, part_pages: int = 0, on_part=None):
    if test_hooks and filetype.startswith("_test_"):
        return _test_hook(filetype, path)
    if test_hooks and _has_sleep_marker(path):
        _test_sleep_on_file(path)
    return parse_file(path=path, filetype=filetype, pdf_part_pages=part_pages, on_part=on_part)


def _emit_part(out, index: int, elements: list, done: int, total: int) -> None:
    _emit(out, {"part": index, "elements": elements, "pages_done": done, "pages_total": total})


def _reset_cpu_budget(cpu_seconds: int) -> None:
    """RLIMIT_CPU counts the whole process; move the soft limit so each item gets its own budget."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = math.ceil(usage.ru_utime + usage.ru_stime)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = used + cpu_seconds
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _emit(out, record: dict) -> None:
    out.write(json.dumps(record, ensure_ascii=False) + "\n")
    out.flush()


def _error_dict(exc: PipelineError) -> dict:
    return {"code": exc.code, "message": exc.message, "permanent": exc.permanent}


# A real upload holding this text makes the child (with --test-hooks only) copy it into its TMPDIR, as parsers do
# with their temporary files, and hang: tests/kb/test_no_plaintext.py kills the worker while it does.
SLEEP_MARKER = b"PXB-TEST-HOOK-SLEEP"


def _has_sleep_marker(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return SLEEP_MARKER in fh.read(1024 * 1024)
    except OSError:
        return False


def _test_sleep_on_file(path: str) -> None:
    import shutil
    import tempfile

    shutil.copy(path, Path(tempfile.gettempdir()) / "parser-temporary-copy")
    time.sleep(3600)


def _hook_result(value) -> list[dict]:
    return [{"type": "TestHook", "text": json.dumps(value)}]


def _test_hook(kind: str, argument: str = "-"):
    if kind == "_test_environ":  # what a parser taken over would find: the kernel's copy, not os.environ
        return _hook_result(Path("/proc/self/environ").read_bytes().decode("utf-8", "replace").split("\0"))
    if kind == "_test_connect":  # argument "host:port", or the path of a Unix socket
        return _hook_result(_try_connect(argument))
    if kind == "_test_tmpdir":  # where temporary files go, what is there, and leave a file behind
        import tempfile

        tmp = Path(tempfile.gettempdir())
        before = sorted(p.name for p in tmp.iterdir())
        (tmp / f"left-by-{os.getpid()}").write_text(argument)
        return _hook_result({"tmpdir": str(tmp), "mode": tmp.stat().st_mode & 0o777, "before": before})
    if kind == "_test_pid":
        return _hook_result(os.getpid())
    if kind == "_test_allocate":
        hog = []
        while True:  # touch every page so the memory is really used, not just reserved
            hog.append(bytearray(b"x" * (64 * 1024 * 1024)))
    if kind == "_test_crash":
        os.abort()
    if kind == "_test_sleep":
        time.sleep(3600)
    if kind == "_test_spin":
        while True:
            pass
    raise PipelineError("unsupported_type", f"Unknown test hook {kind!r}.")


def _try_connect(address: str) -> dict:
    """TCP to "host:port", or a Unix socket at "/path"."""
    import socket

    try:
        if address.startswith("/"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(3)
                sock.connect(address)
        else:
            host, _, port = address.rpartition(":")
            with socket.create_connection((host, int(port)), timeout=3):
                pass
        connected, error = True, ""
    except OSError as exc:
        connected, error = False, f"{type(exc).__name__}: {exc}"
    try:
        interfaces = [name for _, name in socket.if_nameindex()]
    except OSError:  # it needs a socket itself: refused under --no-sockets
        interfaces = None
    return {"connected": connected, "error": error, "interfaces": interfaces}


def _die_with_parent(parent_pid: int | None) -> None:
    """PR_SET_PDEATHSIG: the kernel sends SIGKILL when the parent dies (a worker killed with SIGKILL cannot
    stop its children itself). Then check the parent did not die before that was in place."""
    if parent_pid is None:
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):  # not Linux: the parent's stdin EOF still ends an idle child
        pass
    if os.getppid() != parent_pid:
        sys.exit(0)


def serve(
    *, test_hooks: bool = False, tmpdir: str | None = None, parent_pid: int | None = None, no_sockets: bool = False
) -> int:
    """Persistent mode: one request per stdin line ({"request": path, "output": path}); the heavy
    parser imports are paid once per child instead of once per file. Ends on EOF (the parent is
    gone or retired this child) or after an item that may have left the heap in a bad state."""
    _die_with_parent(parent_pid)
    if no_sockets:
        from privexbot.confine import block_sockets

        if not block_sockets():
            print("parse child: no seccomp on this machine, sockets stay allowed", file=sys.stderr)
    if tmpdir:
        import tempfile

        tempfile.tempdir = tmpdir  # TMPDIR says the same; this also covers code that read it before
    for line in sys.stdin:
        message = json.loads(line)
        rc = main(message["request"], message["output"], test_hooks=test_hooks, tmpdir=tmpdir)
        with open(message["output"], "a", encoding="utf-8") as out:
            _emit(out, {"end": True, "exiting": bool(rc)})
        if rc:
            return rc
    return 0


if __name__ == "__main__":
    _flags = dict(arg[2:].partition("=")[::2] for arg in sys.argv[1:] if arg.startswith("--"))
    _args = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    _hooks = "test-hooks" in _flags
    _tmpdir = _flags.get("tmpdir") or None
    if "serve" in _flags:
        _parent = int(_flags["parent-pid"]) if _flags.get("parent-pid") else None
        sys.exit(serve(test_hooks=_hooks, tmpdir=_tmpdir, parent_pid=_parent, no_sockets="no-sockets" in _flags))
    sys.exit(main(*_args, test_hooks=_hooks, tmpdir=_tmpdir))
