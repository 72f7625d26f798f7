"""/metrics: refused to anyone but the configured scraper; after a real ingestion and searches it lists every
metric of the design guide's list with moved counters; a separate worker process's figures reach it through the
shared multiprocess directory (and `manage.py serve_metrics` on a machine with only workers)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from kb.models import DocumentStatus
from kb.pipeline import runner
from kb.search import chunk_search
from kb.selectors import kb_get_for_user
from kb.services import document_create_from_text, kb_create
from tests.conftest import PASSWORD

TOKEN = "metrics-test-token-" + "x" * 16
ROOT = Path(__file__).resolve().parents[2]
TEXT = (
    "Refunds are issued within 14 days of receiving the returned item. "
    "The item must be unused and in its original packaging.\n\n"
    "Shipping is free for orders above 50 euros. Express delivery costs 9 euros and arrives the next day.\n\n"
) * 6

# The design guide's "Key Metrics to Monitor" (Qdrant's memory does not apply: vectors live in PostgreSQL).
GUIDE = {
    "document_processing_time": "privexbot_document_stage_seconds_count",
    "embedding_generation_time": "privexbot_embedding_seconds_count",
    "vector_search_latency": "privexbot_search_seconds_count",
    "api_response_time": "django_http_requests_latency_seconds_by_view_method_count",
    "concurrent_users": "privexbot_concurrent_users",
    "documents_processed": "privexbot_documents_processed_total",
    "knowledge_bases_created": "privexbot_knowledge_bases_created_total",
    "search_queries_count": "privexbot_searches_total",
    "redis_memory_usage": "privexbot_redis_memory_used_bytes",
    "queue_length": "privexbot_queue_messages",
    "disk_usage_growth": "privexbot_storage_bytes",
    "cpu_utilization": "privexbot_host_cpu_seconds_total",
    "failed_authentication_attempts": "privexbot_auth_failures_total",
    "unauthorized_access_attempts": "privexbot_unauthorized_access_total",
    "data_export_events": "privexbot_data_exports_total",
    "admin_actions_count": "privexbot_admin_actions_total",
}


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples, name: str, **labels) -> float:
    """Sum of the samples of `name` whose labels include `labels` (0 when there is none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def names(samples) -> set[str]:
    return {n for n, _ in samples}


def scrape(client, token: str = TOKEN):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content[:200]
    assert response["Content-Type"].startswith("text/plain")
    return parse(response.content.decode())


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = []


# ---------------------------------------------------------------- access


@pytest.mark.django_db
def test_metrics_are_refused_to_everyone_when_neither_token_nor_allowlist_is_configured(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", []
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything-at-all-1234").status_code == 404


@pytest.mark.django_db
def test_anonymous_wrong_token_and_a_staff_session_are_refused(client, metrics_token, django_user_model):
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer " + TOKEN[:-1] + "y").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic " + TOKEN).status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=TOKEN).status_code == 403
    admin = django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    client.force_login(admin)  # a session is not a scraper's credential
    assert client.get("/metrics").status_code == 403
    assert b"privexbot_" not in client.get("/metrics").content
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


@pytest.mark.django_db
def test_allowlist_alone_and_together_with_the_token(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", ["10.0.0.0/8", "192.168.1.7"]
    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::ffff:192.168.1.7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.8").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.0.0.1").status_code == 403
    settings.METRICS_TOKEN = TOKEN  # both configured: both must pass
    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 403
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", **auth).status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40", **auth).status_code == 200


# ---------------------------------------------------------------- every metric, with real values


@pytest.fixture
def delayed_ping():
    """One real message waiting in the default queue's delayed queue (<queue>.DQ), removed afterwards."""
    import dramatiq

    from privexbot.actors import ping

    ping.send_with_options(args=("metrics-test",), delay=3_600_000)
    yield
    dramatiq.get_broker().flush("default")


@pytest.mark.django_db
def test_after_ingestion_and_searches_every_metric_is_listed_and_the_counters_moved(
    client, metrics_token, workspace, owner, viewer, outsider, no_enqueue, delayed_ping,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    from django.contrib.admin.models import CHANGE, LogEntry

    from privexbot.metrics import collectors
    from tenants.tokens import api_token_create

    before = scrape(client)

    with django_capture_on_commit_callbacks(execute=True):
        kb = kb_create(workspace=workspace, user=owner, name="Metrics KB")
    doc = document_create_from_text(kb=kb, user=owner, title="Policies", content=f"{TEXT} {uuid.uuid4()}")
    assert runner.process(doc.pk).status == DocumentStatus.READY
    readable = kb_get_for_user(user=owner, kb_id=kb.pk)
    for mode in ("vector", "keyword", "hybrid"):
        assert chunk_search(kb=readable, query="how long do refunds take", mode=mode, top_k=3)
    _, api_token = api_token_create(user=owner, name="metrics")
    api = client.post(f"/api/v1/knowledge-bases/{kb.pk}/search", {"query": "express delivery", "mode": "hybrid"},
                      content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api_token}")  # fmt: skip
    assert api.status_code == 200 and api.json()["results"]
    assert client.get("/api/v1/knowledge-bases/", HTTP_AUTHORIZATION="Bearer pxb_not-a-token").status_code == 401
    assert client.post(reverse("login"), {"username": "owner", "password": "wrong"}).status_code == 200
    client.force_login(outsider)
    assert client.get(reverse("kb:detail", kwargs={"kb_id": kb.pk})).status_code == 404
    client.force_login(viewer)
    assert client.get(reverse("kb:settings", kwargs={"kb_id": kb.pk})).status_code == 403
    client.force_login(owner)
    export = client.get(reverse("kb:export", kwargs={"kb_id": kb.pk}))
    archive = zipfile.ZipFile(io.BytesIO(b"".join(export.streaming_content)))  # the KB archive (kb.portability)
    assert export.status_code == 200 and b"Refunds" in archive.read("documents/000001/chunks.jsonl")
    LogEntry.objects.log_actions(owner.pk, [kb], CHANGE, change_message="renamed", single_object=True)
    key = f"metrics-test-{uuid.uuid4()}"
    assert cache.get(key) is None
    cache.set(key, "cached", 30)
    assert cache.get(key) == "cached"

    collectors._storage_cache.clear()  # the storage is walked at most once a minute; this test cannot wait
    after = scrape(client)

    missing = {item: name for item, name in GUIDE.items() if name not in names(after)}
    assert missing == {}

    def moved(name, at_least=1, **labels):
        # At least: test sessions that run at the same time may share a metrics directory.
        delta = value(after, name, **labels) - value(before, name, **labels)
        assert delta >= at_least, (name, labels, delta)

    moved("privexbot_documents_processed_total", outcome="ready")
    for stage in ("parse", "chunk", "embed", "store"):
        moved("privexbot_document_stage_seconds_count", stage=stage)
    moved("privexbot_embedding_seconds_count")
    moved("privexbot_embeddings_total", source="computed")
    for mode in ("vector", "keyword"):
        moved("privexbot_search_seconds_count", mode=mode)
        moved("privexbot_searches_total", mode=mode)
    moved("privexbot_search_seconds_count", 2, mode="hybrid")  # the selector and the API
    moved("privexbot_searches_total", 2, mode="hybrid")
    moved("privexbot_search_step_seconds_count", 3, step="embed")
    moved("privexbot_knowledge_bases_created_total")
    moved("privexbot_auth_failures_total", channel="login")
    moved("privexbot_auth_failures_total", channel="api_token")
    moved("privexbot_unauthorized_access_total", resource="knowledge_base", outcome="404")
    moved("privexbot_unauthorized_access_total", resource="knowledge_base", outcome="403")
    moved("privexbot_data_exports_total", door="web")
    moved("privexbot_admin_actions_total", action="change")
    moved("django_http_requests_latency_seconds_by_view_method_count", view="api-kb-search", method="POST")
    moved("django_http_responses_total_by_status_total", status="401")
    moved("django_db_execute_total")
    moved("django_cache_get_total", 2, backend="native_redis")
    moved("django_cache_get_misses_total", backend="native_redis")
    moved("django_cache_get_hits_total", backend="native_redis")

    assert value(after, "privexbot_queue_messages", queue="default", kind="delayed") >= 1
    queues = [dict(ls) for n, ls in after if n == "privexbot_queue_messages"]
    for queue in ("default", "ingest", "drafts"):  # every actor's queue, each with its three series
        assert {q["kind"] for q in queues if q["queue"] == queue} == {"ready", "delayed", "dead_letter"}
    assert value(after, "privexbot_redis_memory_used_bytes") > 0
    assert value(after, "privexbot_storage_files") >= 1 and value(after, "privexbot_storage_bytes") > 0
    assert value(after, "privexbot_storage_filesystem_bytes", kind="total") > 0
    assert value(after, "privexbot_host_cpu_seconds_total", mode="user") > 0
    assert value(after, "privexbot_host_load", period="1m") >= 0
    assert value(after, "privexbot_concurrent_users") >= 1  # the users of the requests above
    up = {dict(ls)["part"]: v for (n, ls), v in after.items() if n == "privexbot_metrics_collector_up"}
    assert up == {"redis": 1, "queues": 1, "storage": 1, "host": 1, "users": 1}


@pytest.mark.django_db
def test_a_failed_part_is_reported_and_the_rest_still_answers(client, metrics_token, monkeypatch):
    from privexbot.metrics import collectors

    def broken():
        raise ConnectionError("redis is down")
        yield  # pragma: no cover

    monkeypatch.setitem(collectors.PARTS, "redis", broken)
    samples = scrape(client)
    assert value(samples, "privexbot_metrics_collector_up", part="redis") == 0
    assert value(samples, "privexbot_metrics_collector_up", part="host") == 1
    assert "privexbot_host_cpu_seconds_total" in names(samples)


# ---------------------------------------------------------------- the multiprocess directory


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_gunicorn_hooks_drop_live_gauges_on_exit_and_dead_processes_files_on_start(tmp_path, settings):
    from privexbot import gunicorn_conf

    settings.METRICS_DIR = tmp_path
    dead, alive = _dead_pid(), os.getpid()
    for name in (f"counter_{dead}.db", f"gauge_livesum_{dead}.db", f"counter_{alive}.db", f"histogram_{alive}.db"):
        (tmp_path / name).write_bytes(b"")
    server = SimpleNamespace(log=SimpleNamespace(info=lambda *a: None))
    gunicorn_conf.child_exit(server, SimpleNamespace(pid=dead))
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {f"counter_{alive}.db", f"counter_{dead}.db", f"histogram_{alive}.db"}
    gunicorn_conf.on_starting(server)
    assert {p.name for p in tmp_path.iterdir()} == {f"counter_{alive}.db", f"histogram_{alive}.db"}


def _wait_ready(doc, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc.refresh_from_db()
        if doc.status in (DocumentStatus.READY, DocumentStatus.FAILED, DocumentStatus.QUARANTINED):
            return doc.status
        time.sleep(0.3)
    raise AssertionError(f"document still {doc.status}")


def _scrape_until(fetch, done, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        samples = fetch()
        if done(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.3)


@pytest.mark.slow
def test_a_separate_worker_process_figures_reach_metrics_and_serve_metrics(
    worker_process, client, settings, tmp_path, kb, owner
):
    """The worker writes into its own METRICS_DIR (tmp_path) and this process serves that directory: every figure
    seen here was written by the worker, none by this test process."""
    settings.METRICS_DIR = tmp_path
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = TOKEN, []
    worker = worker_process(METRICS_DIR=str(tmp_path))
    doc = document_create_from_text(kb=kb, user=owner, title="Policies", content=f"{TEXT} {uuid.uuid4()}")
    assert _wait_ready(doc) == DocumentStatus.READY

    def finished(s):
        return value(s, "dramatiq_messages_total", actor_name="process_document") >= 1

    samples = _scrape_until(lambda: scrape(client), finished)
    assert value(samples, "privexbot_documents_processed_total", outcome="ready") == 1
    for stage in ("parse", "chunk", "embed", "store"):
        assert value(samples, "privexbot_document_stage_seconds_count", stage=stage) == 1
    assert value(samples, "dramatiq_messages_total", queue_name="ingest", actor_name="process_document") == 1
    assert value(samples, "dramatiq_message_duration_milliseconds_count", actor_name="process_document") == 1
    assert "privexbot_queue_messages" in names(samples)  # the scrape-time gauges come along
    writers = {int(p.stem.rsplit("_", 1)[1]) for p in tmp_path.glob("*.db")}
    assert writers and os.getpid() not in writers  # only the worker's processes wrote here

    # A machine that runs only workers: `manage.py serve_metrics` serves the same directory, same check.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "privexbot.settings_test", "METRICS_DIR": str(tmp_path),
           "METRICS_TOKEN": TOKEN, "PRIVEXBOT_DB_NAME": settings.DATABASES["default"]["NAME"]}  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve_metrics", "--bind", "127.0.0.1:0"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = server.stdout.readline()
        assert "serving metrics on http://127.0.0.1:" in line, line
        url = line.split()[-1]
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=30)
        assert refused.value.code == 403
        wrong = urllib.request.Request(url, headers={"Authorization": "Bearer wrong-token-0123456789"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(wrong, timeout=30)
        assert refused.value.code == 403
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            served = parse(response.read().decode())
        assert value(served, "privexbot_documents_processed_total", outcome="ready") == 1
        assert value(served, "dramatiq_messages_total", actor_name="process_document") == 1
        assert value(served, "privexbot_metrics_collector_up", part="queues") == 1
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert worker.poll() is None
