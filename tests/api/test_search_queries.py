"""What an API search costs beyond the search itself, counted exactly: per mode, the queries of one
POST /api/v1/knowledge-bases/{kb}/search are those of kb.search.chunk_search for the same search plus three —
the bearer key (with its user), the access funnel, the audit append — and Redis is asked once for every throttle.
The key's last-used time is written at most once a minute, so a repeated request adds no write."""

import json
import math
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kb.search import chunk_search
from privexbot.models import AuditEvent

OVERHEAD = 3  # the key, the funnel, the audit append
MODES = ("keyword", "vector", "hybrid")


@pytest.fixture(autouse=True)
def _no_result_cache(settings):
    settings.SEARCH_RESULT_CACHE_SECONDS = 0  # each request searches: the count is what a search costs


def _selector_queries(kb, mode: str) -> int:
    chunk_search(kb=kb, query="refund policy", mode=mode, top_k=5)  # what a process reads once is read now
    with CaptureQueriesContext(connection) as captured:
        chunk_search(kb=kb, query="refund policy", mode=mode, top_k=5)
    return len(captured)


@pytest.mark.parametrize("mode", MODES)
def test_an_api_search_costs_its_selector_plus_three_queries(api, owner, ready_kb, mode):
    client = api(owner, scopes=["search"])
    url = f"/api/v1/knowledge-bases/{ready_kb.pk}/search"
    body = {"query": "refund policy", "mode": mode, "top_k": 5}
    assert client.post(url, body, format="json").status_code == 200  # first use: the key's last_used_at is set
    selector = _selector_queries(ready_kb, mode)
    with CaptureQueriesContext(connection) as captured:
        response = client.post(url, body, format="json")
    assert response.status_code == 200 and response.json()["results"]
    sql = [q["sql"] for q in captured]
    assert len(sql) == selector + OVERHEAD, "\n".join(sql)
    assert sum("tenants_apitoken" in q for q in sql) == 1  # one read of the key, no last-used write this time
    assert sum("privexbot_audit_append" in q for q in sql) == 1
    assert not any(q.lstrip().upper().startswith("UPDATE") for q in sql)


def test_the_first_request_of_a_key_also_writes_its_last_use(api, owner, ready_kb):
    client = api(owner, scopes=["search"])
    url = f"/api/v1/knowledge-bases/{ready_kb.pk}/search"
    selector = _selector_queries(ready_kb, "keyword")
    with CaptureQueriesContext(connection) as captured:
        assert (
            client.post(url, {"query": "refund policy", "mode": "keyword", "top_k": 5}, format="json").status_code
            == 200
        )
    writes = [q["sql"] for q in captured if q["sql"].startswith("UPDATE")]
    assert len(captured) == selector + OVERHEAD + 1 and len(writes) == 1 and "last_used_at" in writes[0]


def test_one_redis_round_trip_for_all_throttles(api, owner, ready_kb, monkeypatch):
    from privexbot.api import throttling

    client = api(owner, scopes=["search"])
    url = f"/api/v1/knowledge-bases/{ready_kb.pk}/search"
    real = throttling.get_client
    pipelines = []

    def counting_client():
        redis_client = real()
        original = redis_client.pipeline

        def pipeline(*args, **kwargs):
            pipe = original(*args, **kwargs)
            pipelines.append(pipe)
            return pipe

        redis_client.pipeline = pipeline
        return redis_client

    monkeypatch.setattr(throttling, "get_client", counting_client)
    assert client.post(url, {"query": "refund", "mode": "keyword"}, format="json").status_code == 200
    assert len(pipelines) == 1  # the user, address and heavy throttles counted together
    assert len(pipelines[0].command_stack) == 0  # executed
    prefix = throttling.KEY_PREFIX
    from privexbot.redis import get_client

    counted = sorted(k.decode().split(":")[len(prefix.split(":"))] for k in get_client().scan_iter(f"{prefix}:*"))
    assert counted.count("heavy") == 1 and counted.count("user") == 1 and counted.count("ip") == 1


def test_the_batched_throttles_still_refuse_with_the_longest_wait(api, owner, ready_kb, settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**rates, "heavy": "2/min", "user": "3/hour"},
    }  # fmt: skip
    client = api(owner, scopes=["search"])
    url = f"/api/v1/knowledge-bases/{ready_kb.pk}/search"
    statuses = [client.post(url, {"query": "refund", "mode": "keyword"}, format="json") for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 200, 429, 429]
    # The 4th is over both limits: the wait is the longer one, the user throttle's (the rest of the hour).
    now = time.time()
    rest_of_hour = math.ceil((now // 3600 + 1) * 3600 - now)
    assert int(statuses[2]["Retry-After"]) <= 60
    assert abs(int(statuses[3]["Retry-After"]) - max(rest_of_hour, int(statuses[2]["Retry-After"]))) <= 2
    assert AuditEvent.objects.filter(action="search").count() == 2  # refused searches are not searched


@pytest.mark.parametrize("group_by", ["chunk", "document"])
@pytest.mark.parametrize("mode", MODES)
def test_the_fast_representation_is_the_serializer_output(ready_kb, mode, group_by):
    from kb.api import serializers as s
    from kb.search import chunk_search
    from privexbot.api import represent as represent_module
    from privexbot.api.represent import represent

    results = chunk_search(
        kb=ready_kb, query="refund policy", mode=mode, top_k=5, group_by=group_by, chunks_per_document=3
    )
    assert results
    assert represent_module._plan(s.SearchHit) is not None  # the fast path is taken, not the fallback
    expected = s.SearchHit([r.to_dict() for r in results], many=True).data
    assert json.dumps(represent(s.SearchHit, results), sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert [type(v) for v in represent(s.SearchHit, results)[0].values()] == [type(v) for v in expected[0].values()]
