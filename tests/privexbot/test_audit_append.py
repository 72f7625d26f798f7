"""The audit append in one statement (privexbot/audit/append.py, the function of migration 0005): the hash the
database computes is the chain's hash, every API search leaves exactly one event with its fields, events of
concurrent requests are all there on one unbroken chain, and a search whose event cannot be written is not
answered."""

import io
import json
import threading
import uuid
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from privexbot.audit import audit_record, query_fingerprint
from privexbot.audit.append import canonical_parts
from privexbot.audit.chain import canonical, chain_verify, row_hash
from privexbot.models import AuditEvent
from tests.api.conftest import api, ready_kb  # noqa: F401  (fixtures)

AGENT = {"HTTP_USER_AGENT": "audit-append-test/1.0"}


@pytest.mark.parametrize(
    "details",
    [{}, {"nested": {"b": [1, 2.5, None, True], "a": "ünïcode ✓"}, "id": 0, "z": '"quotes" and \\'}, {"x": None}],
)
@pytest.mark.parametrize("event_id", [1, 42, 10**12])
def test_the_split_canonical_form_is_the_chain_canonical_form(details, event_id):
    values = {
        "id": event_id, "timestamp": datetime(2026, 12, 3, 12, 0, 0, 123456, tzinfo=UTC), "event_type": "e",
        "user_id": None, "username": "ünï", "organization_id": uuid.uuid4(), "workspace_id": None,
        "resource_type": "KnowledgeBase", "resource_id": "r", "action": "search", "ip_address": "::ffff:10.0.0.1",
        "user_agent": "", "success": False, "details": details,
    }  # fmt: skip
    head, tail = canonical_parts(values)
    assert head + str(event_id) + tail == canonical(values)


@pytest.mark.django_db(transaction=True, databases=["default", "audit"])
def test_one_round_trip_and_the_database_hash_verifies(settings):
    settings.AUDIT_DB_ALIAS = "audit"
    audit_record(event_type="document_access", action="read", resource="first", details={"n": "ü"})
    with CaptureQueriesContext(connections["audit"]) as captured:
        event = audit_record(event_type="document_access", action="read", resource="second", details={"n": [1]})
    assert len(captured) == 1 and "privexbot_audit_append" in captured[0]["sql"]
    stored = AuditEvent.objects.get(pk=event.pk)
    first = AuditEvent.objects.get(resource_id="first")
    assert stored.prev_hash == event.prev_hash == first.row_hash
    assert stored.row_hash == event.row_hash == row_hash(first.row_hash, stored.__dict__)
    assert stored.timestamp == event.timestamp  # microseconds kept: the hash was made from them
    assert chain_verify().ok


def test_every_api_search_leaves_one_event_with_its_fields(api, owner, ready_kb, isolated_throttles, settings):  # noqa: F811
    settings.SEARCH_RESULT_CACHE_SECONDS = 0
    client = api(owner, scopes=["search"])
    before = AuditEvent.objects.count()
    for mode in ("keyword", "vector", "hybrid"):
        body = {"query": "What is the refund policy?", "mode": mode, "top_k": 3}
        response = client.post(f"/api/v1/knowledge-bases/{ready_kb.pk}/search", body, format="json", **AGENT)
        assert response.status_code == 200
        new = list(AuditEvent.objects.order_by("id")[before:])
        assert len(new) == 1, [(e.event_type, e.action) for e in new]
        event = new[0]
        before += 1
        assert (event.event_type, event.action, event.success) == ("document_access", "search", True)
        assert event.user_id == owner.pk and event.username == "owner"
        assert (
            event.workspace_id == ready_kb.workspace_id and event.organization_id == ready_kb.workspace.organization_id
        )
        assert (event.resource_type, event.resource_id) == ("KnowledgeBase", str(ready_kb.pk))
        assert event.ip_address == "127.0.0.1" and event.user_agent == AGENT["HTTP_USER_AGENT"]
        assert event.details == {
            "kb_id": str(ready_kb.pk), **query_fingerprint(body["query"], mode=mode), "top_k": 3,
            "results": len(response.json()["results"]),
        }  # fmt: skip
        assert "refund" not in json.dumps(event.details)
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    assert "audit chain intact" in out.getvalue()


@pytest.mark.django_db(transaction=True, databases=["default", "audit"])
def test_events_of_concurrent_api_searches_are_all_there(api, owner, ready_kb, isolated_throttles, settings):  # noqa: F811
    settings.AUDIT_DB_ALIAS = "audit"  # as in production: its own autocommit connection
    settings.SEARCH_RESULT_CACHE_SECONDS = 0
    clients, per_client = 5, 4
    tokens = [api(owner, scopes=["search"]) for _ in range(clients)]
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def run(client) -> None:
        try:
            start.wait()
            for i in range(per_client):
                body = {"query": f"refund question {i}", "mode": "keyword", "top_k": 3}
                status = client.post(f"/api/v1/knowledge-bases/{ready_kb.pk}/search", body, format="json").status_code
                with lock:
                    statuses.append(status)
        finally:
            connections.close_all()  # this thread's connections

    threads = [threading.Thread(target=run, args=(c,)) for c in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * clients * per_client
    searches = AuditEvent.objects.filter(event_type="document_access", action="search")
    assert searches.count() == clients * per_client
    assert sorted(searches.values_list("details__query_chars", flat=True)) == sorted(
        len(f"refund question {i}") for _ in range(clients) for i in range(per_client)
    )
    prev = list(AuditEvent.objects.order_by("id").values_list("prev_hash", flat=True))
    assert len(set(prev)) == len(prev)  # no fork: every row names its own predecessor
    assert chain_verify().ok
    call_command("audit_verify", stdout=io.StringIO())


@pytest.mark.django_db(transaction=True, databases=["default", "audit"])
def test_a_search_whose_event_cannot_be_written_is_not_answered(api, owner, ready_kb, isolated_throttles, settings):  # noqa: F811
    settings.AUDIT_DB_ALIAS = "audit"
    client = api(owner, scopes=["search"])
    client.raise_request_exception = False
    url = f"/api/v1/knowledge-bases/{ready_kb.pk}/search"
    with connection.cursor() as cursor:  # the append fails as it would with PostgreSQL gone mid-request
        cursor.execute("ALTER FUNCTION privexbot_audit_append(bigint, text, text, jsonb) RENAME TO pxb_gone")
    try:
        response = client.post(url, {"query": "refund", "mode": "keyword"}, format="json")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER FUNCTION pxb_gone(bigint, text, text, jsonb) RENAME TO privexbot_audit_append")
    assert response.status_code == 500 and b"Refunds" not in response.content
    assert not AuditEvent.objects.filter(action="search").exists()
    assert client.post(url, {"query": "refund", "mode": "keyword"}, format="json").status_code == 200
    assert AuditEvent.objects.filter(action="search").count() == 1 and chain_verify().ok
