"""Structured logs: LOG_FORMAT=json lines, the request id of a web request (X-Request-ID), and the ids that follow
a job from the request that enqueued it into the Dramatiq worker that processes it."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dramatiq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from dramatiq.brokers.stub import StubBroker

from privexbot import logs
from privexbot.log_middleware import LogContext

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def own_throttles(monkeypatch):
    """Rate-limit windows of this test only (other test runs share the Redis server and the small user ids)."""
    from privexbot.api import throttling
    from privexbot.redis import get_client

    prefix = f"pxb:throttle-test:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(throttling, "KEY_PREFIX", prefix)
    yield
    for key in get_client().scan_iter(match=f"{prefix}:*"):
        get_client().delete(key)


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# ---------------------------------------------------------------- LOG_FORMAT=json, through the real settings

# Run by `manage.py shell` with LOG_FORMAT=json: one API request for a KB that does not exist (Django logs its
# 404 after the middleware chain, so this also shows the ids are still bound then).
_REQUEST_SCRIPT = """
import json, os, sys
from django.test import Client
response = Client().get(
    "/api/v1/knowledge-bases/%s/" % os.environ["PXB_TEST_KB"],
    HTTP_AUTHORIZATION="Bearer " + os.environ["PXB_TEST_TOKEN"],
    HTTP_X_REQUEST_ID="logs-test-0001",
)
sys.stdout.write("RESULT " + json.dumps({"status": response.status_code, "id": response.headers["X-Request-ID"]}))
"""


def test_json_format_writes_one_object_per_line_with_the_request_and_user_ids(transactional_db, owner):
    from django.db import connection

    from tenants.tokens import api_token_create

    _, token = api_token_create(user=owner, name="logs-json")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "privexbot.settings_test",
        "PRIVEXBOT_DB_NAME": connection.settings_dict["NAME"],
        "LOG_FORMAT": "json",
        "PXB_TEST_TOKEN": token,
        "PXB_TEST_KB": str(uuid.uuid4()),
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", _REQUEST_SCRIPT],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.split("RESULT ", 1)[1])
    assert result == {"status": 404, "id": "logs-test-0001"}

    lines = _json_lines(done.stderr)  # every line of stderr parses: nothing but JSON objects, one per line
    assert lines and all(isinstance(line, dict) for line in lines)
    not_found = [line for line in lines if line["logger"] == "django.request"]
    assert len(not_found) == 1, lines
    [line] = not_found
    assert line["level"] == "WARNING" and line["message"].startswith("Not Found: /api/v1/knowledge-bases/")
    assert line["request_id"] == "logs-test-0001"
    assert line["user_id"] == str(owner.pk)
    assert token not in done.stderr  # the credential is in no field


def test_plain_format_is_the_default():
    from django.conf import settings

    if "LOG_FORMAT" in os.environ:
        pytest.skip("LOG_FORMAT is set in this environment")
    assert settings.LOG_FORMAT == "plain"
    assert settings.LOGGING["handlers"]["console"]["formatter"] == "plain"
    assert settings.LOGGING["handlers"]["audit_file"]["formatter"] == "raw"  # the audit trail keeps its own lines


def test_json_formatter_writes_the_fields_and_drops_request_objects():
    record = logging.LogRecord("kb.test", logging.INFO, __file__, 1, "claimed %s", ("doc",), None)
    record.request = object()  # Django attaches the request to some records: an object, not data
    with logs.bind(request_id="r-1", kb_id=uuid.UUID(int=7)):
        logs.ContextFilter().filter(record)
    line = json.loads(logs.JsonFormatter().format(record))
    assert {k: line[k] for k in ("level", "logger", "message", "request_id", "kb_id", "document_id")} == {
        "level": "INFO",
        "logger": "kb.test",
        "message": "claimed doc",
        "request_id": "r-1",
        "kb_id": str(uuid.UUID(int=7)),
        "document_id": None,
    }
    assert "request" not in line and "timestamp" in line


# ---------------------------------------------------------------- X-Request-ID


@pytest.mark.django_db
def test_a_sane_request_id_is_echoed_and_a_malicious_one_replaced(client):
    sane = client.get("/login/", HTTP_X_REQUEST_ID="req-2026.12:ab_CD-9")
    assert sane["X-Request-ID"] == "req-2026.12:ab_CD-9"

    generated = set()
    for bad in ["abc\nERROR forged line", "a" * 500, '"}, {"level": "CRITICAL', "", " padded "]:
        response = client.get("/login/", HTTP_X_REQUEST_ID=bad)
        assert response["X-Request-ID"] != bad
        assert len(response["X-Request-ID"]) == 32 and int(response["X-Request-ID"], 16) >= 0  # a new uuid4 hex
        generated.add(response["X-Request-ID"])
    assert len(generated) == 5  # one per request
    assert client.get("/login/")["X-Request-ID"] not in generated


@pytest.mark.django_db
def test_the_session_user_and_request_id_are_on_a_line_logged_after_the_view(client, owner, caplog):
    caplog.handler.addFilter(logs.ContextFilter())
    client.force_login(owner)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get(f"/kb/{uuid.uuid4()}/", HTTP_X_REQUEST_ID="session-req-1")
    assert response.status_code == 404
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert (record.request_id, record.user_id) == ("session-req-1", str(owner.pk))
    assert logs.current()["request_id"] is None  # unbound once the response was closed


@pytest.mark.django_db
def test_the_access_funnel_binds_workspace_and_kb(owner, kb):
    from drafts.selectors import draft_get_for_user
    from drafts.services import draft_create
    from kb.selectors import kb_get_for_user

    with logs.bind():
        kb_get_for_user(user=owner, kb_id=kb.pk)
        assert (logs.current()["workspace_id"], logs.current()["kb_id"]) == (str(kb.workspace_id), str(kb.pk))
    assert logs.current()["kb_id"] is None  # the block restored what was there before

    draft = draft_create(workspace=kb.workspace, user=owner, name="D", description="")
    with logs.bind():
        draft_get_for_user(user=owner, draft_id=draft.pk)
        assert logs.current()["draft_id"] == str(draft.pk)
        assert logs.current()["workspace_id"] == str(draft.workspace_id)


# ---------------------------------------------------------------- Dramatiq: enqueue -> worker


def test_the_broker_of_the_settings_runs_the_log_middleware():
    assert any(isinstance(m, LogContext) for m in dramatiq.get_broker().middleware)


def test_enqueued_messages_carry_the_request_id_and_the_worker_binds_it_for_that_message_only():
    broker = StubBroker(middleware=[LogContext()])
    seen = []

    def record(label):
        seen.append((label, logs.current()))

    actor = dramatiq.actor(record, broker=broker, actor_name="logs_record", queue_name="logs-test")
    with logs.bind(request_id="req-abc", user_id=42):
        first = actor.send("from a request")
    second = actor.send("from the sweeper")  # nothing bound: a periodic job's message
    forged = actor.send_with_options(args=("forged",), request_id="x\ny")  # garbage in options is never bound

    assert (first.options["request_id"], first.options["user_id"]) == ("req-abc", "42")
    assert "request_id" not in second.options and "user_id" not in second.options
    queued = [dramatiq.Message.decode(data) for data in list(broker.queues["logs-test"].queue)]
    assert queued[0].options["request_id"] == "req-abc"  # in what the broker holds, not only in our copy

    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)  # one thread: the leak would show
    worker.start()
    try:
        broker.join("logs-test", fail_fast=True)
        worker.join()
    finally:
        worker.stop()
    by_label = dict(seen)
    assert (by_label["from a request"]["request_id"], by_label["from a request"]["user_id"]) == ("req-abc", "42")
    assert by_label["from the sweeper"]["request_id"] is None and by_label["from the sweeper"]["user_id"] is None
    assert by_label["forged"]["request_id"] is None
    assert forged.options["request_id"] == "x\ny"


# ---------------------------------------------------------------- one upload, across processes


def _worker_with_stderr_to(start, path: Path, **env):
    """Start a worker (the conftest fixture inherits this process's stderr) with its stderr in `path`."""
    saved = os.dup(2)
    with open(path, "wb") as fh:
        os.dup2(fh.fileno(), 2)
        try:
            return start(**env)
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _wait(what, check, timeout=240):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)
    return value


@pytest.mark.slow
def test_one_upload_is_followed_by_its_request_id_into_the_worker_json_lines(
    worker_process, owner, workspace, tmp_path, own_throttles
):
    from rest_framework.test import APIClient

    from drafts.models import DraftSource
    from kb.models import Document
    from tenants.tokens import api_token_create

    log_file = tmp_path / "worker.log"
    _worker_with_stderr_to(worker_process, log_file, LOG_FORMAT="json")
    _, token = api_token_create(user=owner, name="logs-e2e", scopes=["write"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    draft = api.post("/api/v1/kb-drafts/", {"name": "Logs", "description": "", "workspace_id": str(workspace.pk)})
    assert draft.status_code == 200, draft.content
    base = f"/api/v1/kb-drafts/{draft.json()['draft_id']}"
    upload_id, finalize_id = f"upload-{uuid.uuid4().hex}", f"finalize-{uuid.uuid4().hex}"
    text = b"Harbour notes. The lighthouse keeper records every storm in a ledger.\n" * 20
    upload = api.post(
        f"{base}/sources/upload", {"file": SimpleUploadedFile("notes.txt", text, "text/plain"), "title": "Notes"},
        format="multipart", HTTP_X_REQUEST_ID=upload_id,
    )  # fmt: skip
    assert upload.status_code == 200 and upload["X-Request-ID"] == upload_id, upload.content
    source_id = upload.json()["id"]
    _wait("the source to be parsed", lambda: DraftSource.objects.get(pk=source_id).status == "completed")

    finalized = api.post(f"{base}/finalize", HTTP_X_REQUEST_ID=finalize_id)
    assert finalized.status_code == 200, finalized.content
    kb_id = finalized.json()["kb_id"]
    [document] = Document.objects.filter(kb_id=kb_id)
    _wait("the document to be ready", lambda: Document.objects.get(pk=document.pk).status == "ready")

    def worker_lines():
        lines = [json.loads(x) for x in log_file.read_text().splitlines() if x.startswith("{")]
        return lines if any(x["message"].startswith("document ready") for x in lines) else None

    lines = _wait("the worker's last line", worker_lines, timeout=30)
    parse = [x for x in lines if x["request_id"] == upload_id]
    assert any(x["logger"] == "drafts.processing" and x["message"] == "draft source completed" for x in parse), lines
    assert all(
        (x["source_id"], x["draft_id"], x["workspace_id"], x["user_id"])
        == (source_id, draft.json()["draft_id"], str(workspace.pk), str(owner.pk))
        for x in parse
    ), parse
    processed = [x for x in lines if x["request_id"] == finalize_id]
    assert {x["message"].split(" in ")[0] for x in processed} >= {"document claimed (attempt 1)", "document ready"}
    assert all(
        (x["document_id"], x["kb_id"], x["user_id"]) == (str(document.pk), kb_id, str(owner.pk)) for x in processed
    )
    # Lines of other work in the worker (startup, the sweeper) carry no request id, and no id leaked into them.
    others = [x for x in lines if x["request_id"] not in (upload_id, finalize_id)]
    assert all(x["request_id"] is None and x["document_id"] is None for x in others), others
    assert text.decode()[:40] not in log_file.read_text()  # the document's text is in no line
