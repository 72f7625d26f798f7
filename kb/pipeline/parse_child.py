"""Entry point of the parse child process: `python -m kb.pipeline.parse_child REQUEST OUTPUT`, or
`python -m kb.pipeline.parse_child --serve` to handle one request per stdin line (see serve()).
`--test-hooks` (the parent passes it when settings.PARSE_TEST_HOOKS is on) makes "_test_*" file types
exhaust memory, crash or hang, for tests/kb/test_parse.py.

The child does not load Django settings: kb.pipeline.parse starts it with privexbot.env.child_environment(),
which carries the offline flags unstructured and the HF stack read at import time, and no secrets.

REQUEST is JSON {"items": [[index, path, filetype], ...], "cpu_seconds": N} — or with "budget" (a
kb.pipeline.budget.ParseBudget) each file's CPU budget follows its size and pages. For each item the
child appends {"start": index} (with a budget, then {"budget": index, "cpu_seconds": N}) and then
{"done": index, "elements": [...]} or {"done": index, "error": {...}} to OUTPUT (JSON lines, flushed),
so the parent always knows which item was running if the child dies.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import time

from kb.pipeline.budget import ParseBudget, file_budget
from kb.pipeline.parse import parse_file
from kb.pipeline.types import PipelineError

TEST_HOOKS_FLAG = "--test-hooks"


def main(request_path: str, output_path: str, *, test_hooks: bool = False) -> int:
    with open(request_path) as fh:
        request = json.load(fh)
    with open(output_path, "a", encoding="utf-8") as out:
        budget = ParseBudget(**request["budget"]) if request.get("budget") else None
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
            try:
                elements = _parse(path, filetype, test_hooks=test_hooks)
            except PipelineError as exc:
                _emit(out, {"done": index, "error": _error_dict(exc)})
            except MemoryError:
                error = PipelineError("resource_limit", "Parsing this file ran out of memory and was stopped.")
                _emit(out, {"done": index, "error": _error_dict(error)})
                return 3  # the heap may be in a bad state: let the parent start a fresh child
            else:
                _emit(out, {"done": index, "elements": elements})
    return 0


def _parse(path: str, filetype: str, *, test_hooks: bool):
    if test_hooks and filetype.startswith("_test_"):
        return _test_hook(filetype)
    return parse_file(path=path, filetype=filetype)


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


def _test_hook(kind: str):
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


def serve(*, test_hooks: bool = False) -> int:
    """Persistent mode: one request per stdin line ({"request": path, "output": path}); the heavy
    parser imports are paid once per child instead of once per file. Ends on EOF (the parent is
    gone or retired this child) or after an item that may have left the heap in a bad state."""
    for line in sys.stdin:
        message = json.loads(line)
        rc = main(message["request"], message["output"], test_hooks=test_hooks)
        with open(message["output"], "a", encoding="utf-8") as out:
            _emit(out, {"end": True, "exiting": bool(rc)})
        if rc:
            return rc
    return 0


if __name__ == "__main__":
    _args = [arg for arg in sys.argv[1:] if arg != TEST_HOOKS_FLAG]
    _hooks = TEST_HOOKS_FLAG in sys.argv[1:]
    sys.exit(serve(test_hooks=_hooks) if _args == ["--serve"] else main(*_args, test_hooks=_hooks))
