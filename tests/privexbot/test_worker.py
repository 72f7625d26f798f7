"""A real Dramatiq worker process (not the StubBroker) on the real Redis executes a job and beats."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_real_worker_executes_a_job_and_reports_a_heartbeat(transactional_db, client):
    from django.db import connection

    from privexbot.actors import ping
    from privexbot.redis import get_client
    from privexbot.workers import workers_alive

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "privexbot.settings_test"}
    env["PRIVEXBOT_DB_NAME"] = connection.settings_dict["NAME"]
    cmd = [sys.executable, "manage.py", "rundramatiq", "--processes", "1", "--threads", "1"]
    worker = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    try:
        token = uuid.uuid4().hex
        ping.send(token)
        deadline = time.monotonic() + 60
        while get_client().get(f"pxb:ping:{token}") != b"pong":
            assert worker.poll() is None, "worker exited"
            assert time.monotonic() < deadline, "worker did not execute the job"
            time.sleep(0.2)
        assert any(w["host"] for w in workers_alive())
        assert client.get("/health").status_code == 200
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
