"""Entry point of the parse child process: `python -m kb.pipeline.parse_child REQUEST OUTPUT`, or
`python -m kb.pipeline.parse_child --serve` to handle one request per stdin line (see serve()).

REQUEST is JSON {"items": [[index, path, filetype], ...], "cpu_seconds": N}. For each item the
child appends {"start": index} and then {"done": index, "elements": [...]} or
{"done": index, "error": {...}} to OUTPUT (JSON lines, flushed), so the parent always knows
which item was running if the child dies.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import time

from kb.pipeline.parse_unstructured import OFFLINE_ENV

# Before anything imports unstructured or huggingface_hub: they read these at import time.
for _key, _value in OFFLINE_ENV.items():
    os.environ.setdefault(_key, _value)

from kb.pipeline.parse import parse_file  # noqa: E402 - must follow the environment setup
from kb.pipeline.types import PipelineError  # noqa: E402

# Lets tests make a child exhaust memory, crash or hang on one item (see tests/kb/test_parse.py).
TEST_HOOKS_ENV = "KB_PARSE_TEST_HOOKS"


def main(request_path: str, output_path: str) -> int:
    with open(request_path) as fh:
        request = json.load(fh)
    with open(output_path, "a", encoding="utf-8") as out:
        for index, path, filetype in request["items"]:
            _reset_cpu_budget(request["cpu_seconds"])
            _emit(out, {"start": index})
            try:
                elements = _parse(path, filetype)
            except PipelineError as exc:
                _emit(out, {"done": index, "error": _error_dict(exc)})
            except MemoryError:
                error = PipelineError("resource_limit", "Parsing this file ran out of memory and was stopped.")
                _emit(out, {"done": index, "error": _error_dict(error)})
                return 3  # the heap may be in a bad state: let the parent start a fresh child
            else:
                _emit(out, {"done": index, "elements": elements})
    return 0


def _parse(path: str, filetype: str):
    if filetype.startswith("_test_") and os.environ.get(TEST_HOOKS_ENV) == "1":
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


def serve() -> int:
    """Persistent mode: one request per stdin line ({"request": path, "output": path}); the heavy
    parser imports are paid once per child instead of once per file. Ends on EOF (the parent is
    gone or retired this child) or after an item that may have left the heap in a bad state."""
    for line in sys.stdin:
        message = json.loads(line)
        rc = main(message["request"], message["output"])
        with open(message["output"], "a", encoding="utf-8") as out:
            _emit(out, {"end": True, "exiting": bool(rc)})
        if rc:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(serve() if sys.argv[1:] == ["--serve"] else main(sys.argv[1], sys.argv[2]))
