"""The backup → restore drill: an encrypted archive (nothing readable without BACKUP_KEY) restored into an
empty database and an empty storage brings back the same KBs, documents, chunks, audit log, stored files and
search results — for both storage backends."""

from __future__ import annotations

import base64
import io
import os
import tarfile
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from kb.models import Chunk, Document, KnowledgeBase
from kb.pipeline.runner import process
from kb.search import chunk_search
from kb.services import document_create_from_file, document_create_from_text
from privexbot.backups.inventory import inventory
from privexbot.models import AuditEvent
from privexbot.storage import get_storage, reset_storage

pytestmark = pytest.mark.slow
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
BACKUP_KEY = base64.b64encode(os.urandom(32)).decode()
SENTENCE = "The quarterly audit of Harbor Clinic found seven unresolved incidents in ward nine."
QUERIES = ["unresolved incidents at Harbor Clinic", "exam regulations", "ward nine audit"]


@pytest.fixture
def installation(settings, tmp_path, transactional_db, request):
    """Settings of the installation under test; `move_to(name)` points it at a new, empty file storage."""
    settings.STORAGE_BACKEND = request.param
    settings.BACKUP_KEY = BACKUP_KEY

    def move_to(name):
        settings.STORAGE_DIR = tmp_path / name
        reset_storage()

    move_to("storage-before")
    yield move_to
    reset_storage()
    if "tenants_organization" not in connection.introspection.table_names():  # a drill that failed half-way
        call_command("migrate", verbosity=0)


def build_kb(workspace, owner, monkeypatch):
    from kb import services

    monkeypatch.setattr(services, "_enqueue", lambda ids: None)  # the pipeline runs right here, in-process
    kb = KnowledgeBase.objects.create(workspace=workspace, name="Clinic records", created_by=owner)
    text = document_create_from_text(kb=kb, user=owner, title="Audit", content=(SENTENCE + " ") * 30)
    pdf = CORPUS / "pdf" / "exam-n.pdf"
    upload = document_create_from_file(kb=kb, user=owner, filename=pdf.name, fileobj=io.BytesIO(pdf.read_bytes()))
    for doc in (text, upload):
        process(doc.pk)
    assert set(Document.objects.values_list("status", flat=True)) == {"ready"}
    return kb


def search_results(kb) -> list:
    return [
        [(r.chunk_id, r.document_id, round(r.score, 5)) for r in chunk_search(kb=kb, query=q, mode=mode, top_k=5)]
        for q in QUERIES
        for mode in ("vector", "keyword", "hybrid")
    ]


def empty_the_database():
    with connection.cursor() as cursor:
        cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    connection.close()


@pytest.mark.parametrize("installation", ["local", "database"], indirect=True)
def test_backup_restore_drill_brings_back_everything_and_nothing_is_readable_without_the_key(
    installation, workspace, owner, tmp_path, monkeypatch
):
    kb = build_kb(workspace, owner, monkeypatch)
    before, results = inventory(), search_results(kb)
    assert before["counts"]["kb.Chunk"] > 2 and len(before["files"]) >= 3  # uploads and parsed elements
    archive = Path(call_command("backup", str(tmp_path / "backups")) or next((tmp_path / "backups").glob("*.tar")))

    raw = archive.read_bytes()
    for secret in (SENTENCE[:40], "Harbor Clinic", "Clinic records", "exam-n.pdf", "owner@example.com"):
        assert secret.encode() not in raw, secret
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["contents.json.pxe", "database.dump.pxe", "manifest.json", "storage.tar.pxe"]

    empty_the_database()
    installation("storage-after")
    call_command("restore", str(archive))

    after = inventory()
    after["counts"]["privexbot.AuditEvent"] -= 1  # the restore itself is audited
    assert after == before
    restored = KnowledgeBase.objects.get(pk=kb.pk)
    assert search_results(restored) == results
    assert AuditEvent.objects.filter(event_type="backup", action="restore").count() == 1
    assert Chunk.objects.filter(content__contains="Harbor Clinic").exists()
    upload = Document.objects.get(kb=restored, name="exam-n.pdf")
    assert get_storage().open_bytes(upload.stored_file) == (CORPUS / "pdf" / "exam-n.pdf").read_bytes()

    with pytest.raises(CommandError, match="already holds data"):  # never silently over live data
        call_command("restore", str(archive))


@pytest.mark.parametrize("installation", ["local"], indirect=True)
def test_a_damaged_archive_or_another_key_is_refused_and_backups_need_a_key(
    installation, workspace, owner, tmp_path, settings
):
    KnowledgeBase.objects.create(workspace=workspace, name="Keep me", created_by=owner)
    call_command("backup", str(tmp_path / "backups"))
    archive = next((tmp_path / "backups").glob("*.tar"))
    assert oct(archive.stat().st_mode & 0o777) == "0o600"

    damaged = bytearray(archive.read_bytes())
    with tarfile.open(archive) as tar:
        member = tar.getmember("database.dump.pxe")
    damaged[member.offset_data + 200] ^= 1
    (tmp_path / "damaged.tar").write_bytes(bytes(damaged))
    with pytest.raises(CommandError, match="database.dump.pxe does not match its checksum"):
        call_command("restore", str(tmp_path / "damaged.tar"), "--replace", "--yes")

    settings.BACKUP_KEY = base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(CommandError, match="another BACKUP_KEY"):
        call_command("restore", str(archive), "--replace", "--yes")
    settings.BACKUP_KEY = settings.ENCRYPTION_KEY
    with pytest.raises(CommandError, match="must not be one of the ENCRYPTION_KEY"):
        call_command("backup", str(tmp_path / "backups"))
    settings.BACKUP_KEY = None
    with pytest.raises(CommandError, match="BACKUP_KEY is not set"):
        call_command("backup", str(tmp_path / "other"))
    assert not (tmp_path / "other").exists() or not list((tmp_path / "other").iterdir())
    assert KnowledgeBase.objects.filter(name="Keep me").exists()  # nothing was touched by the refusals
