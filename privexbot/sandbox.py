"""Private scratch space for work on untrusted or tenant plaintext, the start-up sweep, and the parse child's
network isolation.

Where plaintext must touch a path (unstructured, pdfminer and pikepdf need one; the crawl child writes its
pages), it lands only in this process's own directory: mode 0700, on tmpfs when the machine has one (RAM only,
gone at reboot), named so that a later process can tell whether its owner still runs:

    <root>/pxb-sandbox-<pid>-<start time of that pid>-<random>/
        pxb-parse-<document id>-XXXX/    a document's source while it parses (kb.deletion looks for these)
        pxb-draft-<source id>-XXXX/      a draft source's file while it parses
        pxb-crawl-<source id>-XXXX/      a crawl's output (pages.jsonl) and the crawl child's TMPDIR
        kbparse-XXXX/                    a parse child's request and results
        child-XXXX/                      a parse child's TMPDIR, wiped before and after each item
        (unnamed)                        encrypted upload spools (privexbot.uploads), unlinked from the start

<root> is SANDBOX_DIR, or /dev/shm when it is a writable directory, else the temporary directory. A process
killed with SIGKILL cannot clean up: `sweep()` (run at every process start, privexbot.apps) removes the
directories of processes that are gone, never a live sibling's (the pid and its start time must both match a
running process for it to count as gone or alive; a recycled pid has another start time).

Importable without Django settings: the parse child uses `wipe`, benchmarks run without settings.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

PREFIX = "pxb-sandbox-"
SHM = Path("/dev/shm")  # noqa: S108 - the tmpfs itself; what goes there is a 0700 directory of ours
# What older versions (and Django's default upload handler) left in the temp dir in plaintext. Their names carry
# no owner: the sweep removes them once nothing touched them for this long, so a run in progress is never hit.
LEGACY_PATTERNS = (
    "pxb-upload-*",
    "pxb-draft-*",
    "pxb-parse-*",
    "pxb-crawl-*",
    "pxb-import-*",
    "kbparse-*",
    "kbpdf-*",
    "tmp*.upload*",
)
LEGACY_MIN_AGE_SECONDS = 6 * 3600

_process: tuple[int, Path] | None = None


def root() -> Path:
    """Where process directories are made (SANDBOX_DIR, else /dev/shm, else the temp dir)."""
    configured = _setting("SANDBOX_DIR", "")
    if configured:
        return Path(configured)
    if SHM.is_dir() and os.access(SHM, os.W_OK | os.X_OK):
        return SHM
    return Path(tempfile.gettempdir())


def roots() -> list[Path]:
    """Every place a process directory or a legacy leftover may be: for sweeps and scans."""
    found = []
    for candidate in (root(), SHM, Path(tempfile.gettempdir())):
        if candidate.is_dir() and candidate not in found:
            found.append(candidate)
    return found


def process_dir() -> Path:
    """This process's private directory (created on first use; a forked child gets its own)."""
    global _process
    pid = os.getpid()
    if _process is not None and _process[0] == pid and _process[1].is_dir():
        return _process[1]
    base = root()
    base.mkdir(parents=True, exist_ok=True)
    path = base / f"{PREFIX}{pid}-{_start_ticks(pid)}-{uuid.uuid4().hex[:8]}"
    path.mkdir(mode=0o700)
    path.chmod(0o700)  # whatever the umask
    _process = (pid, path)
    atexit.register(_remove_own, pid, path)
    return path


def _remove_own(pid: int, path: Path) -> None:
    if os.getpid() == pid:  # atexit handlers survive fork: only the owner removes its directory
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A fresh private directory (0700) inside this process's one, removed with its content at the end."""
    path = make_private_dir(prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def make_private_dir(prefix: str) -> Path:
    """Like scratch(), for a directory whose life is not one block (a parse child's TMPDIR): the caller removes
    it, or the sweep does if this process dies first."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=process_dir()))  # mkdtemp: mode 0700


def wipe(path: Path) -> None:
    """Remove everything inside `path`, keeping the directory itself."""
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(path):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)


def find(pattern: str) -> list[Path]:
    """Entries named `pattern` (a glob) in every process directory, and (older versions) directly in the roots."""
    found: list[Path] = []
    for base in roots():
        found += base.glob(pattern)
        for directory in base.glob(f"{PREFIX}*"):
            with contextlib.suppress(OSError):
                found += directory.glob(pattern)
    return found


# ---------------------------------------------------------------------------------------------- the sweep


def sweep() -> int:
    """Remove the directories of processes that are gone, and legacy leftovers untouched for
    LEGACY_MIN_AGE_SECONDS; return how many entries went. Safe from any process at any time; never raises
    (a start-up must not fail here)."""
    removed = 0
    uid = os.getuid()
    for base in roots():
        try:
            for directory in base.glob(f"{PREFIX}*"):
                owner = _owner(directory.name)
                if owner is None or directory.lstat().st_uid != uid or _alive(*owner):
                    continue
                shutil.rmtree(directory, ignore_errors=True)
                removed += 1
            removed += _sweep_legacy(base, uid)
        except OSError:  # an entry vanished meanwhile, or the root is unreadable: the next start tries again
            logger.info("sweep of %s stopped early", base, exc_info=True)
    if removed:
        logger.info("removed %s private directories left by processes that are gone", removed)
    return removed


def _sweep_legacy(base: Path, uid: int) -> int:
    removed = 0
    cutoff = time.time() - LEGACY_MIN_AGE_SECONDS
    for pattern in LEGACY_PATTERNS:
        for entry in base.glob(pattern):
            with contextlib.suppress(FileNotFoundError):
                info = entry.lstat()
                if info.st_uid != uid or _newest_mtime(entry) > cutoff:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed += 1
    return removed


def _newest_mtime(path: Path) -> float:
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for child in path.rglob("*"):
            with contextlib.suppress(FileNotFoundError):
                newest = max(newest, child.lstat().st_mtime)
    return newest


def _owner(name: str) -> tuple[int, str] | None:
    parts = name[len(PREFIX) :].split("-")
    if len(parts) < 3 or not parts[0].isdigit():
        return None
    return int(parts[0]), parts[1]


def _start_ticks(pid: int) -> str:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22): with the pid, it names
    one process, even after the pid is reused. "x" where /proc is not available; "" for a zombie (killed, not
    yet reaped: it holds nothing open any more, and its parent may never reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "x"
    fields = stat.rsplit(")", 1)[1].split()  # the fields after the command name, which may hold spaces
    if fields[0] in ("Z", "X"):
        return ""
    return fields[19]


def _alive(pid: int, ticks: str) -> bool:
    if pid == os.getpid():
        return True
    if ticks == "x":
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return _start_ticks(pid) == ticks


# ---------------------------------------------------------------------------------------------- network


def isolation_mode() -> str:
    """PARSE_NETWORK_ISOLATION: auto | required | off ("auto" without settings)."""
    return _setting("PARSE_NETWORK_ISOLATION", "auto")


@functools.cache
def network_isolation() -> tuple[str, ...]:
    """The command prefix that starts a child in a new, empty network namespace (not even loopback is up), or
    () where this machine does not allow it and PARSE_NETWORK_ISOLATION is "auto".

    As root `unshare --net` works; an unprivileged user needs user namespaces (`--map-root-user`). Both are
    probed once per process by running `true` under them."""
    mode = isolation_mode()
    if mode == "off":
        return ()
    unshare = shutil.which("unshare")
    if unshare:
        for prefix in ((unshare, "--net", "--"), (unshare, "--net", "--map-root-user", "--")):
            if _probe(prefix):
                return prefix
    if mode == "required":
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "PARSE_NETWORK_ISOLATION=required, but this machine allows no network namespace "
            "(`unshare --net` failed: run as root, or enable unprivileged user namespaces)"
        )
    logger.warning("parse children keep network access: `unshare --net` is not available on this machine")
    return ()


def _probe(prefix: tuple[str, ...]) -> bool:
    try:
        done = subprocess.run([*prefix, "true"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _setting(name: str, default: str) -> str:
    from django.conf import settings

    return getattr(settings, name) if settings.configured else default
