"""A worker on another machine: its own working directory and var/, no access to the web process's files,
connected only through DATABASE_URL, REDIS_URL and the shared storage (STORAGE_BACKEND=database). It takes an
uploaded PDF and a crawled page to `ready`, and this process — the web — searches them."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from drafts.models import DraftSource
from drafts.services import draft_create, draft_finalize, draft_source_add_website
from kb.models import Chunk, Document, DocumentStatus
from kb.search import chunk_search
from kb.services import document_create_from_file
from privexbot.models import StoredBlob, StoredBlobPart
from privexbot.storage import get_storage, reset_storage
from tests.production_mode import stop

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"
UNFINISHED = ("queued", "parsing", "chunking", "embedding", "indexing")


@pytest.fixture
def shared_storage(settings):
    settings.STORAGE_BACKEND = "database"
    reset_storage()
    yield
    reset_storage()


def database_url() -> str:
    """The test database as another machine names it: a URL, nothing of this process's settings."""
    params = connection.get_connection_params()
    host = quote(str(params["host"]), safe="") if str(params["host"]).startswith("/") else params["host"]
    port = f":{params['port']}" if params.get("port") else ""
    password = f":{quote(params['password'])}" if params.get("password") else ""
    return f"postgresql://{quote(params['user'])}{password}@{host}{port}/{connection.settings_dict['NAME']}"


@pytest.fixture
def other_machine_worker(transactional_db, shared_storage, tmp_path):
    from privexbot.redis import get_client

    namespace = settings.DRAMATIQ_BROKER["OPTIONS"]["namespace"]
    for key in get_client().scan_iter(match=f"{namespace}:*"):  # no stale messages from earlier tests
        get_client().delete(key)
    machine = Machine(tmp_path / "machine-b")
    (machine / "work").mkdir(parents=True)
    env = {  # built from nothing: no variable of this process leaks in
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),  # the code, as installed on that machine; its working directory is its own
        "HOME": str(machine),
        "LANG": "C.UTF-8",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "DJANGO_SETTINGS_MODULE": "privexbot.settings_test",  # for the test session's queue namespace
        "PRIVEXBOT_TEST_SESSION": os.environ["PRIVEXBOT_TEST_SESSION"],
        "PRIVEXBOT_VAR_DIR": str(machine / "var"),
        "PERMANENT_STORAGE_PATH": str(machine / "var" / "storage"),
        "STORAGE_BACKEND": "database",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "ENCRYPTION_KEY": settings.ENCRYPTION_KEY,
        "SECRET_KEY": settings.SECRET_KEY,
        "CRAWL_ALLOW_PRIVATE": "true",  # the docs site is served on 127.0.0.1
    }
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "rundramatiq", "--processes", "1", "--threads", "2"],
        cwd=machine / "work", env=env, start_new_session=True,
    )  # fmt: skip
    machine.process = proc
    yield machine
    stop(proc)


class Machine(type(Path())):
    process: subprocess.Popen


def wait_for(predicate, worker, timeout=300, message="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert worker.process.poll() is None, f"the worker exited ({worker.process.returncode})"
        assert time.monotonic() < deadline, f"timed out waiting for {message}"
        time.sleep(0.3)


def test_a_worker_on_another_machine_indexes_an_upload_and_a_crawled_page(
    other_machine_worker, kb, owner, workspace, docs_site
):
    local_files_before = (
        set(Path(settings.STORAGE_DIR).rglob("*.bin")) if Path(settings.STORAGE_DIR).exists() else set()
    )
    pdf = CORPUS / "pdf" / "exam-n.pdf"
    uploaded = document_create_from_file(kb=kb, user=owner, filename=pdf.name, fileobj=io.BytesIO(pdf.read_bytes()))

    draft = draft_create(workspace=workspace, user=owner, name="Docs page", target_kb=kb)
    site = draft_source_add_website(
        draft=draft, user=owner, url=docs_site + "/index.html", crawl_config={"max_depth": 1, "max_pages": 1}
    )
    wait_for(lambda: not DraftSource.objects.get(pk=site.pk).is_unfinished, other_machine_worker, message="the crawl")
    crawled = DraftSource.objects.get(pk=site.pk)
    assert crawled.status == "completed" and crawled.pages_processed == 1, (crawled.status, crawled.error)
    draft_finalize(draft=draft, user=owner)

    docs = Document.objects.filter(kb=kb)
    wait_for(
        lambda: not docs.filter(status__in=UNFINISHED).exists(), other_machine_worker, message="the documents to finish"
    )
    assert docs.count() == 2
    for doc in docs:
        assert doc.status == DocumentStatus.READY, (doc.name, doc.error)
        assert Chunk.objects.filter(document=doc).count() == doc.chunk_count > 0

    # The web process searches what the other machine indexed.
    for doc in docs:
        sentence = Chunk.objects.filter(document=doc).order_by("index").first().content[:80]
        hits = chunk_search(kb=kb, query=sentence, mode="hybrid", top_k=5)
        assert str(doc.pk) in {h.document_id for h in hits}, (doc.name, sentence)

    # Everything went through the shared store: nothing in either machine's file storage, and the store
    # itself only ever held ciphertext.
    assert not list((other_machine_worker / "var" / "storage").rglob("*.bin"))
    assert set(Path(settings.STORAGE_DIR).rglob("*.bin")) == local_files_before
    uploaded.refresh_from_db()
    assert StoredBlob.objects.filter(name=uploaded.stored_file).exists()
    assert get_storage().open_bytes(uploaded.stored_file) == pdf.read_bytes()
    pdf_text = Chunk.objects.filter(document=uploaded).order_by("index").first().content
    needle = max(pdf_text.split("\n"), key=len)[:40].encode()
    assert len(needle) >= 20
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {StoredBlobPart._meta.db_table} WHERE position(%s::bytea IN data) > 0",  # noqa: S608
            [needle],
        )
        assert cursor.fetchone()[0] == 0  # not in any part of any stored blob
    assert b"%PDF" not in get_storage().raw_bytes(uploaded.stored_file)[:200]
