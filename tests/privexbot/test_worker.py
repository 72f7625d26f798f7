"""A real Dramatiq worker process (not the StubBroker) on the real Redis executes a job and beats."""

import time
import uuid

import pytest


@pytest.mark.slow
def test_real_worker_executes_a_job_and_reports_a_heartbeat(worker_process, client):
    from privexbot.actors import ping
    from privexbot.redis import get_client
    from privexbot.workers import workers_alive

    worker = worker_process()
    token = uuid.uuid4().hex
    ping.send(token)
    deadline = time.monotonic() + 60
    while get_client().get(f"pxb:ping:{token}") != b"pong":
        assert worker.poll() is None, "worker exited"
        assert time.monotonic() < deadline, "worker did not execute the job"
        time.sleep(0.2)
    assert any(w["pid"] for w in workers_alive())
    assert client.get("/health").status_code == 200
