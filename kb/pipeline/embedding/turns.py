"""Encoder turns: at most `slots` document encodes of one installation run at once on this machine, across its
worker processes and threads.

Each encode already uses `threads` cores (onnxruntime's intra-op pool, or torch's). Two worker processes each
running a 2-thread encode on 2 cores put 4 busy threads on 2 cores: the parallel sections of every matmul wait
for a descheduled thread, and both encodes slow down by more than the halving (issue 18). Taking turns instead
keeps each encode on cores of its own, while the rest of a document's work (claim, parse, chunk, cache lookups,
the store transaction) still overlaps with another process's encode.

The turns are flock()s on files in a directory of this machine's temp dir (never the var directory: a network
volume must not serialise the encoders of several machines), one directory per installation (runtime passes its
var directory and database as the scope), and free themselves when a holder dies. Only the workers' document
encodes take turns: a query embedding in the web process is short and must not wait behind a batch.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .backends import cpu_count

log = logging.getLogger(__name__)


def slots_for(threads: int) -> int:
    """How many encodes of `threads` threads fit on this process's cores at once (at least one)."""
    return max(1, cpu_count() // max(1, threads))


def turns_dir(scope: str = "") -> Path | None:
    """This user's turn files for `scope` (an installation: the workers of one install on one machine take turns
    together, another install or test session on the same machine keeps its own), or None when the directory
    belongs to someone else (who could hold every turn)."""
    path = Path(tempfile.gettempdir()) / f"privexbot-encode-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    if path.lstat().st_uid != os.getuid() or not path.is_dir():
        log.warning("%s is not this user's directory: worker encodes run without taking turns", path)
        return None
    if scope:
        path = path / hashlib.sha256(scope.encode()).hexdigest()[:16]
        path.mkdir(mode=0o700, exist_ok=True)
    return path


@contextlib.contextmanager
def encode_turn(slots: int, *, scope: str = "", directory: Path | None = None) -> Iterator[None]:
    """Hold one of `slots` encode turns of this machine for the body, waiting for one when all are taken.
    scope: whose turns (turns_dir); directory: where the turns live instead (tests)."""
    directory = directory or turns_dir(scope)
    if directory is None:
        yield
        return
    handles = []
    try:
        # A fresh open file per turn: flock belongs to the open file, so threads of one process exclude each
        # other too. First any free slot; when all are busy, wait on one (spread by pid).
        for index in range(slots):
            fh = open(directory / f"slot-{index}.lock", "a+")  # noqa: SIM115 - closed below, with its lock
            handles.append(fh)
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = fh
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
        else:
            held = handles[os.getpid() % slots]
            fcntl.flock(held, fcntl.LOCK_EX)
        for fh in handles:  # keep only the one that holds the turn
            if fh is not held:
                fh.close()
        handles = [held]
        yield
    finally:
        for fh in handles:
            fh.close()  # closing releases the lock
