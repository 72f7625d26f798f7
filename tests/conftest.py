import functools
import http.server
import os
import threading
import uuid
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from kb.models import KnowledgeBase
from tenants.models import Membership, Organization, Role, Workspace

PASSWORD = "correct horse battery staple"


def make_user(username: str):
    return get_user_model().objects.create_user(username=username, email=f"{username}@example.com", password=PASSWORD)


def make_tenant(name: str, *, username: str | None = None) -> tuple[Workspace, object]:
    """Another organization with one workspace and its owner: (workspace, owner)."""
    organization = Organization.objects.create(name=name)
    workspace = Workspace.objects.create(organization=organization, name=f"{name} docs")
    user = make_user(username or name.lower())
    Membership.objects.create(user=user, workspace=workspace, role=Role.OWNER)
    return workspace, user


@pytest.fixture
def org(db):
    return Organization.objects.create(name="Acme")


@pytest.fixture
def workspace(org):
    return Workspace.objects.create(organization=org, name="Support")


@pytest.fixture
def owner(workspace):
    user = make_user("owner")
    Membership.objects.create(user=user, workspace=workspace, role=Role.OWNER)
    return user


@pytest.fixture
def member(workspace):
    """An editor: can create and update KBs, cannot delete them or manage the workspace."""
    user = make_user("member")
    Membership.objects.create(user=user, workspace=workspace, role=Role.EDITOR)
    return user


@pytest.fixture
def viewer(workspace):
    user = make_user("viewer")
    Membership.objects.create(user=user, workspace=workspace, role=Role.VIEWER)
    return user


@pytest.fixture
def outsider(db):
    """Owner of a different organization's workspace: must never see Acme's data."""
    user = make_user("outsider")
    other_org = Organization.objects.create(name="Globex")
    other_ws = Workspace.objects.create(organization=other_org, name="Globex main")
    Membership.objects.create(user=user, workspace=other_ws, role=Role.OWNER)
    return user


@pytest.fixture
def kb(workspace, owner):
    return KnowledgeBase.objects.create(workspace=workspace, name="Product docs", created_by=owner)


@pytest.fixture
def no_enqueue(monkeypatch):
    """Record what would go to the workers instead of sending it; tests run the work in-process."""
    sent = []
    from drafts import services as draft_services
    from kb import services as kb_services

    monkeypatch.setattr(kb_services, "_enqueue", lambda ids: sent.extend(("document", str(i)) for i in ids))
    monkeypatch.setattr(draft_services, "_enqueue", lambda actor, pk: sent.append((actor, str(pk))))
    return sent


@pytest.fixture
def isolated_throttles(db, monkeypatch):
    """Rate-limit windows of this test only: all test clients share one address, and other test runs on this
    machine share the Redis server and the small user ids. Yields the key prefix."""
    from privexbot.api import throttling
    from privexbot.redis import get_client

    prefix = f"pxb:throttle-test:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(throttling, "KEY_PREFIX", prefix)
    yield prefix
    for key in get_client().scan_iter(match=f"{prefix}:*"):
        get_client().delete(key)


@pytest.fixture
def client_for(client):
    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def worker_process(transactional_db):
    """Start real `manage.py rundramatiq` processes on the test database; all are stopped at teardown."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from django.db import connection

    from privexbot.redis import get_client

    client = get_client()
    from django.conf import settings

    namespace = settings.DRAMATIQ_BROKER["OPTIONS"].get("namespace", "dramatiq")
    for key in client.scan_iter(match=f"{namespace}:*"):  # no stale messages from earlier tests
        client.delete(key)
    started = []
    root = Path(__file__).resolve().parents[1]

    def start(threads: int = 1, **env_overrides):
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "privexbot.settings_test"}
        env["PRIVEXBOT_DB_NAME"] = connection.settings_dict["NAME"]
        env.update({k: str(v) for k, v in env_overrides.items()})
        cmd = [sys.executable, "manage.py", "rundramatiq", "--processes", "1", "--threads", str(threads)]
        proc = subprocess.Popen(cmd, cwd=root, env=env, start_new_session=True)
        started.append(proc)
        return proc

    yield start
    from tests.production_mode import stop

    for proc in started:
        stop(proc)


@pytest.fixture
def docs_site():
    """The real Django docs, served on 127.0.0.1 for the crawler."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0),
        functools.partial(Quiet, directory=Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "site"),
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
