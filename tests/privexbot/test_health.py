import pytest

from privexbot.redis import get_client
from privexbot.workers import KEY_PREFIX, beat


def _clear_workers():
    client = get_client()
    for key in client.scan_iter(match=f"{KEY_PREFIX}*"):
        client.delete(key)


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("ops", is_staff=True))
    return client


def test_health_is_503_without_a_worker_and_200_with_one(staff_client, db):
    client = staff_client
    _clear_workers()
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["database"]["pgvector"]
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["workers"] == {**body["checks"]["workers"], "ok": False, "count": 0}

    beat()
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["checks"]["workers"]["count"] == 1
    _clear_workers()


DATABASE_ERROR = "connection to server at 10.1.2.3 failed: password authentication failed"


@pytest.fixture
def database_down(db, monkeypatch):
    """A failing database check with a live worker: /health must answer 503 and say so."""
    from privexbot import health

    def broken():
        raise RuntimeError(DATABASE_ERROR)

    monkeypatch.setattr(health, "_database", broken)
    beat()
    yield
    _clear_workers()


def test_health_is_503_when_the_database_fails(staff_client, database_down):
    response = staff_client.get("/health")
    assert response.status_code == 503
    assert DATABASE_ERROR in response.json()["checks"]["database"]["error"]


def test_anonymous_callers_learn_only_whether_each_component_is_ok(client, database_down):
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"] == {"database": {"ok": False}, "redis": {"ok": True}, "workers": {"ok": True}}
    assert "10.1.2.3" not in response.content.decode()
