"""The parse child is sandboxed: no secret in its environment, no network and no socket, a private TMPDIR wiped
around every item, one child per tenant, and it dies with its worker. Private directories of processes that
are gone are swept; a live process's never. Uploads are spooled encrypted (privexbot.uploads).

Every check runs in a real child process (the test hooks of kb/pipeline/parse_child.py report from inside it)."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from kb.pipeline.parse import parse_in_subprocess, shutdown_child
from kb.pipeline.types import PipelineError
from privexbot import sandbox

SECRETS = {
    "SECRET_KEY": "leak-secret-key-0123456789",
    "ENCRYPTION_KEY": "leak-encryption-key",
    "DATABASE_URL": "postgresql://leak:leak@db/leak",
    "REDIS_URL": "redis://leak:6379/9",
    "BACKUP_KEY": "leak-backup-key",
    "RECEIPT_SIGNING_KEY": "leak-receipt-signing-key",
    "METRICS_TOKEN": "leak-metrics-token-0123456789",
    "EMAIL_HOST_PASSWORD": "leak-mail-password",
    "SECRET_KEY_FILE": "/run/secrets/leak-secret-key",
    "ENCRYPTION_KEY_FILE": "/run/secrets/leak-encryption-key",
    "PGPASSWORD": "leak-pg-password",
    "AWS_SECRET_ACCESS_KEY": "leak-aws",
    "https_proxy": "http://leak-proxy:3128",
}


@pytest.fixture
def hooks(settings):
    settings.PARSE_TEST_HOOKS = True
    shutdown_child()  # a child started before the test has another environment or other settings
    yield
    shutdown_child()


def hook(kind: str, argument: str = "-", *, organization_id="org-a"):
    [result] = parse_in_subprocess([(argument, kind)], organization_id=organization_id)
    assert not isinstance(result, PipelineError), result
    return json.loads(result[0]["text"])


def test_the_child_environment_read_from_inside_holds_no_secret(hooks, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    shutdown_child()
    environ = dict(line.split("=", 1) for line in hook("_test_environ") if "=" in line)
    assert environ, "the hook read nothing"
    assert not set(SECRETS) & set(environ), sorted(set(SECRETS) & set(environ))
    assert not any(value in " ".join(environ.values()) for value in SECRETS.values())
    # no secret by file either, and no proxy (a CA bundle is configuration, not a secret)
    assert not [n for n in environ if (n.endswith("_FILE") and n != "SSL_CERT_FILE") or "PROXY" in n.upper()]
    assert Path(environ["TMPDIR"]).parent == sandbox.process_dir()  # its own temporary directory
    assert environ["HF_HUB_OFFLINE"] == "1"  # what it needs is there


@pytest.fixture
def listeners(tmp_path):
    """A TCP listener on 127.0.0.1 and a Unix socket listener: both reachable from this process."""
    tcp = socket.create_server(("127.0.0.1", 0))
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix_path = str(tmp_path / "db.sock")  # like the embedded PostgreSQL's socket under var/
    unix.bind(unix_path)
    unix.listen()
    accepted = []

    def accept(server):
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(server.family)
            conn.close()

    for server in (tcp, unix):
        threading.Thread(target=accept, args=(server,), daemon=True).start()
    with socket.create_connection(tcp.getsockname(), timeout=3):  # positive control: they do accept
        pass
    with socket.socket(socket.AF_UNIX) as probe:
        probe.connect(unix_path)
    deadline = time.monotonic() + 5
    while len(accepted) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(accepted) == 2
    accepted.clear()
    yield f"127.0.0.1:{tcp.getsockname()[1]}", unix_path, accepted
    tcp.close()
    unix.close()


def test_the_child_has_no_network_and_cannot_open_any_socket(hooks, listeners):
    tcp, unix, accepted = listeners
    if not sandbox.network_isolation():
        pytest.skip("this machine allows no network namespace (not root, no unprivileged user namespaces)")
    over_tcp = hook("_test_connect", tcp)
    over_unix = hook("_test_connect", unix)
    assert not over_tcp["connected"] and not over_unix["connected"], (over_tcp, over_unix)
    assert "Permission denied" in over_tcp["error"] and "Permission denied" in over_unix["error"]  # seccomp
    time.sleep(0.3)
    assert accepted == []  # nothing reached either listener


def test_without_isolation_the_same_hook_connects(hooks, listeners, settings):
    """The control: the hook really tries, so the test above fails when the sandbox does not hold."""
    tcp, unix, accepted = listeners
    settings.PARSE_NETWORK_ISOLATION = "off"
    sandbox.network_isolation.cache_clear()
    try:
        shutdown_child()
        assert hook("_test_connect", tcp)["connected"]
        assert hook("_test_connect", unix)["connected"]
    finally:
        shutdown_child()
        sandbox.network_isolation.cache_clear()


def test_the_network_namespace_alone_has_no_interface_up(hooks, listeners, monkeypatch):
    """Without the socket filter (seccomp), the namespace still leaves nothing to reach."""
    tcp, _, accepted = listeners
    if not sandbox.network_isolation():
        pytest.skip("this machine allows no network namespace")
    monkeypatch.setattr(sandbox, "isolation_mode", lambda: "off")  # no --no-sockets; the namespace prefix is cached
    shutdown_child()
    result = hook("_test_connect", tcp)
    shutdown_child()
    assert not result["connected"] and "unreachable" in result["error"], result
    assert result["interfaces"] == ["lo"]  # the namespace's own loopback, down
    assert accepted == []


def test_each_item_gets_an_empty_private_tmpdir(hooks):
    results = parse_in_subprocess([("first", "_test_tmpdir"), ("second", "_test_tmpdir")], organization_id="org-a")
    first, second = (json.loads(r[0]["text"]) for r in results)
    assert first["tmpdir"] == second["tmpdir"]  # the same child
    assert first["before"] == [] and second["before"] == []  # what the first left was wiped before the second
    assert first["mode"] == second["mode"] == 0o700
    tmpdir = Path(first["tmpdir"])
    assert tmpdir.parent == sandbox.process_dir() and sandbox.process_dir().stat().st_mode & 0o777 == 0o700
    assert list(tmpdir.iterdir()) == []  # and after the last item


def test_a_fresh_child_per_tenant(hooks):
    a1 = hook("_test_pid", organization_id="org-a")
    a2 = hook("_test_pid", organization_id="org-a")
    b = hook("_test_pid", organization_id="org-b")
    a3 = hook("_test_pid", organization_id="org-a")
    assert a1 == a2  # the same organization reuses its child (the parser imports are paid once)
    assert len({a1, b, a3}) == 3  # another organization's item always starts a fresh one, and back again


def test_the_child_dies_with_its_worker():
    """A worker killed with SIGKILL cannot stop its parse child; the kernel does (PR_SET_PDEATHSIG)."""
    script = (
        "import django; django.setup()\n"
        "from django.conf import settings; settings.PARSE_TEST_HOOKS = True\n"
        "from kb.pipeline.parse import parse_in_subprocess\n"
        "parse_in_subprocess([('-', '_test_sleep')], organization_id='org-a')\n"
    )
    worker = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2])
    child = None
    deadline = time.monotonic() + 60
    while child is None and time.monotonic() < deadline:
        child = next(iter(_parse_children(worker.pid)), None)
        time.sleep(0.1)
    assert child is not None, "the parse child never started"
    [private] = [p for p in sandbox.roots()[0].glob(f"{sandbox.PREFIX}{worker.pid}-*")]
    assert list(private.glob("child-*")) and list(private.glob("kbparse-*/request.json"))
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    deadline = time.monotonic() + 10
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child), "the parse child outlived its worker"
    assert private.exists()  # nobody cleaned up after the kill...
    sandbox.sweep()
    assert not private.exists()  # ...until the sweep that every process start runs


def _parse_children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"kb.pipeline.parse_child" in cmdline and f"--parent-pid={parent}".encode() in cmdline:
                found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# ---------------------------------------------------------------------------------------------- the sweep


def test_the_sweep_removes_what_dead_processes_left_and_nothing_of_live_ones(tmp_path, settings):
    settings.SANDBOX_DIR = str(tmp_path)  # one of the roots the sweep looks in
    gone = subprocess.Popen(["true"])
    gone.wait()
    live = subprocess.Popen(["sleep", "30"])
    # Killed and not yet reaped (a worker killed with its parent, and a PID 1 that does not reap): still in /proc
    # with its start time, but it holds nothing any more.
    zombie = subprocess.Popen(["sleep", "30"])
    zombie_ticks = sandbox._start_ticks(zombie.pid)
    zombie.kill()
    while Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.01)
    try:
        dead_dir = tmp_path / f"{sandbox.PREFIX}{gone.pid}-12345-aaaa"
        zombie_dir = tmp_path / f"{sandbox.PREFIX}{zombie.pid}-{zombie_ticks}-eeee"
        recycled = tmp_path / f"{sandbox.PREFIX}{live.pid}-1-bbbb"  # a live pid, another process's start time
        sibling = tmp_path / f"{sandbox.PREFIX}{live.pid}-{sandbox._start_ticks(live.pid)}-cccc"
        mine = tmp_path / f"{sandbox.PREFIX}{os.getpid()}-{sandbox._start_ticks(os.getpid())}-dddd"
        for directory in (dead_dir, zombie_dir, recycled, sibling, mine):
            (directory / "pxb-parse-x").mkdir(parents=True)
            (directory / "pxb-parse-x" / "source.txt").write_text("tenant plaintext")
        old_legacy = tmp_path / "kbparse-old"
        new_legacy = tmp_path / "kbparse-new"
        for directory in (old_legacy, new_legacy):
            directory.mkdir()
            (directory / "results.jsonl").write_text("{}")
        past = time.time() - sandbox.LEGACY_MIN_AGE_SECONDS - 60
        for path in (old_legacy / "results.jsonl", old_legacy):
            os.utime(path, (past, past))

        assert sandbox.sweep() >= 4  # and whatever else dead processes left in /dev/shm or the temp dir
        assert not dead_dir.exists() and not zombie_dir.exists() and not recycled.exists()
        assert not old_legacy.exists()
        assert sibling.exists() and new_legacy.exists() and mine.exists()
    finally:
        live.kill()
        live.wait()
        zombie.wait()


def test_deletion_finds_a_documents_copy_in_a_private_directory():
    with sandbox.scratch("pxb-parse-0f0f0f0f-0000-0000-0000-000000000000-") as tmp:
        assert sandbox.find("pxb-parse-0f0f0f0f-0000-0000-0000-000000000000-*") == [tmp]


# ---------------------------------------------------------------------------------------------- upload spool


def _open_files_containing(needle: bytes) -> list[str]:
    """Regular files this process has open (deleted ones too) whose bytes contain `needle`."""
    hits = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
            if not Path(f"/proc/self/fd/{fd.name}").is_file():
                continue
            with open(fd, "rb") as fh:
                if needle in fh.read():
                    hits.append(target)
        except OSError:
            continue
    return hits


def test_the_encrypted_spool_reads_back_anything_and_holds_no_plaintext():
    from privexbot.uploads import SEGMENT, EncryptedSpool

    needle = b"spool-canary-" + os.urandom(8).hex().encode()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:  # stored: the needle is in the bytes
        zf.writestr("word/document.xml", needle * 20_000)
    payload = archive.getvalue()
    spool = EncryptedSpool()
    for start in range(0, len(payload), 7_777):  # chunks that do not line up with segments
        spool.append(payload[start : start + 7_777])
    spool.finish()
    assert len(payload) > 3 * SEGMENT and spool.size == len(payload)
    assert _open_files_containing(needle) == []  # the spool file holds ciphertext only
    spool.seek(0)
    assert spool.read() == payload
    for offset, size in ((0, 10), (SEGMENT - 3, 9), (2 * SEGMENT + 5, 3 * SEGMENT), (len(payload) - 4, 100)):
        spool.seek(offset)
        assert spool.read(size) == payload[offset : offset + size]
    spool.seek(0)
    with zipfile.ZipFile(spool) as zf:  # what file_accept's archive check does with it
        assert zf.read("word/document.xml") == needle * 20_000
    spool.close()


def test_the_crawl_child_environment_holds_no_secret_and_a_private_tmpdir(monkeypatch, tmp_path):
    """The crawl child (drafts.crawler) gets the same scrubbed environment, and a TMPDIR inside its private
    output directory; its environment is read from the kernel's copy while it runs."""
    from drafts.crawler import CrawlConfig, start_crawl

    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    listener = socket.create_server(("127.0.0.1", 0))  # accepts and never answers: the crawl keeps running
    try:
        with sandbox.scratch("pxb-crawl-test-") as out_dir:
            start = f"http://127.0.0.1:{listener.getsockname()[1]}/"
            with start_crawl(CrawlConfig(allow_private=True, start_url=start), out_dir=out_dir) as handle:
                raw = Path(f"/proc/{handle.pid}/environ").read_bytes().decode("utf-8", "replace")
                environ = dict(line.split("=", 1) for line in raw.split("\0") if "=" in line)
                assert not set(SECRETS) & set(environ), sorted(set(SECRETS) & set(environ))
                assert not any(value in raw for value in SECRETS.values())
                assert environ["TMPDIR"] == str(out_dir / "tmp")
                assert (out_dir / "tmp").stat().st_mode & 0o777 == 0o700
                assert out_dir.stat().st_mode & 0o777 == 0o700 and out_dir.parent == sandbox.process_dir()
    finally:
        listener.close()
