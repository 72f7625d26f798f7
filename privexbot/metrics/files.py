"""Housekeeping of the multiprocess directory (settings.METRICS_DIR).

prometheus_client keeps one file per process and metric type, named `<type>_<pid>.db` (gauges:
`gauge_<mode>_<pid>.db`), and adds up every file at scrape time. Its docs ask for the directory to be wiped at
start-up; here gunicorn (web) and Dramatiq (workers) share it, so a start-up removes only the files of processes
that are gone, never those of the other group's live processes. The totals of dead processes drop with their
files: Prometheus' rate()/increase() read that as a counter reset.
"""

from __future__ import annotations

import os
from pathlib import Path


def _pid(name: str) -> int | None:
    stem = name.removesuffix(".db")
    tail = stem.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def prune_dead(directory: str | Path) -> list[str]:
    """Delete the files of processes that no longer run; returns their names."""
    removed = []
    for path in Path(directory).glob("*.db"):
        pid = _pid(path.name)
        if pid is None or pid == os.getpid() or _alive(pid):
            continue
        path.unlink(missing_ok=True)  # another process may be pruning the same file right now
        removed.append(path.name)
    return removed


def mark_dead(pid: int, directory: str | Path) -> None:
    """A process ended: its live gauges (e.g. Dramatiq's messages in progress) stop counting at once."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, str(directory))
