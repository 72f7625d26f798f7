"""How production starts, in one place: the start and health-check commands, the variables production must be
given, and the environment of a production-mode run. tests/browser/test_production_walk.py runs exactly these
commands; tests/privexbot/test_compose.py checks that deploy/docker-compose.yml, the Dockerfile and the systemd
units run the same ones."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Relative to the project root (the image's WORKDIR /app, the systemd WorkingDirectory, the test's cwd).
WEB_COMMAND = ["deploy/start-web.sh"]
WORKER_COMMAND = ["deploy/start-worker.sh"]
WEB_HEALTHCHECK = ["python", "deploy/healthcheck-web.py"]
WORKER_HEALTHCHECK = ["python", "manage.py", "worker_health"]
# Read by the start scripts (and gunicorn: WEB_CONCURRENCY), not by settings.py.
START_VARIABLES = {
    "BIND", "WEB_CONCURRENCY", "RUN_MIGRATIONS", "WORKER_PROCESSES", "WORKER_THREADS", "WORKER_METRICS_BIND"
}  # fmt: skip
# What a production deployment must provide (settings.py refuses to start without the secrets with DEBUG off;
# without the URLs it would quietly start embedded servers inside each container).
REQUIRED_VARIABLES = [
    "SECRET_KEY",
    "ENCRYPTION_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "ALLOWED_HOSTS",
    "STORAGE_BACKEND",
    "METRICS_TOKEN",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def tcp_servers():
    """A fresh embedded PostgreSQL and Valkey of their own, reached over 127.0.0.1 with passwords, as production
    reaches its servers; yields (DATABASE_URL, REDIS_URL), then stops both and removes their data.

    Their directory is not under pytest's tmp_path: as root, PostgreSQL runs as another system user that must
    reach it, and every pytest session started meanwhile (others run side by side) resets pytest-of-root to 0700."""
    from privexbot import embedded_servers
    from privexbot.embedded_servers import EMBEDDED_DB_NAME

    var_dir = Path(tempfile.mkdtemp(prefix="pxb-servers-"))
    db_port, redis_port = free_port(), free_port()
    db_password, redis_password = secrets.token_hex(16), secrets.token_hex(16)
    try:
        embedded_servers.ensure_postgres(var_dir, tcp_port=db_port, password=db_password)
        embedded_servers.ensure_redis(var_dir, tcp_port=redis_port, password=redis_password)
        yield (
            f"postgresql://postgres:{db_password}@127.0.0.1:{db_port}/{EMBEDDED_DB_NAME}",
            f"redis://:{redis_password}@127.0.0.1:{redis_port}/0",
        )
    finally:
        try:
            embedded_servers.stop_postgres(var_dir)
        finally:
            embedded_servers.stop_redis(var_dir, password=redis_password)
            shutil.rmtree(var_dir, ignore_errors=True)


def production_env(*, database_url: str, redis_url: str, var_dir: Path, static_root: Path, **extra: str) -> dict:
    """The whole environment of a production process behind a TLS-terminating proxy (deploy/.env.example): DEBUG
    off, fresh secrets, TCP URLs, shared storage in the database. Nothing is inherited from the test run but
    PATH (with this virtualenv's bin first, as the image's python is first on its PATH) and HOME."""
    bin_dir = str(Path(sys.executable).parent)
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", str(var_dir)),
        "LANG": "C.UTF-8",
        "DJANGO_SETTINGS_MODULE": "privexbot.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ENCRYPTION_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ALLOWED_HOSTS": "127.0.0.1",
        "TRUST_X_FORWARDED_PROTO": "true",
        "STORAGE_BACKEND": "database",
        "STATIC_ROOT": str(static_root),
        "PRIVEXBOT_VAR_DIR": str(var_dir),
        "METRICS_TOKEN": secrets.token_urlsafe(32),
        **extra,
    }


def start(command: list[str], *, env: dict, log: Path, cwd: Path = ROOT) -> subprocess.Popen:
    """A start script as its own process group (so the whole tree can be stopped), output to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [str(ROOT / command[0]), *command[1:]],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(proc: subprocess.Popen, timeout: float = 60) -> None:
    import signal

    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def run(command: list[str], *, env: dict, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def wait_until(check, *, timeout: float, what: str, logs: list[Path] = ()) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-3000:]}" for p in logs if p.exists())
            raise AssertionError(f"{what} within {timeout:.0f}s\n{tails}")
        time.sleep(0.5)
