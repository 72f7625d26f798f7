"""Key rotation: after ENCRYPTION_KEY=NEW,OLD and `manage.py rotate_keys`, NEW alone reads every file."""

import base64
import os
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from privexbot.models import AuditEvent
from privexbot.storage import SEGMENT, EncryptedStorage, StorageError, parse_keyring, reset_storage, storage_rotate_keys

OLD = base64.b64encode(os.urandom(32)).decode()
NEW = base64.b64encode(os.urandom(32)).decode()
CONTENTS = [b"", b"short upload", os.urandom(2 * SEGMENT + 7)]  # empty, one segment, several segments


def store(root, keys: str) -> EncryptedStorage:
    return EncryptedStorage(root, parse_keyring(keys))


def test_rotation_moves_every_file_to_the_new_key_and_is_idempotent(tmp_path):
    written = {store(tmp_path, OLD).save(data): data for data in CONTENTS}
    rotating = store(tmp_path, f"{NEW},{OLD}")
    on_new = rotating.save(b"written after NEW was added")

    first = storage_rotate_keys(storage=rotating)
    assert (first.rewrapped, first.current, first.plain, first.failed) == (3, 1, 0, {})
    again = storage_rotate_keys(storage=rotating)
    assert (again.rewrapped, again.current, again.failed) == (0, 4, {})

    only_new = store(tmp_path, NEW)
    for rel, data in written.items():
        assert only_new.open_bytes(rel) == data
    assert only_new.open_bytes(on_new) == b"written after NEW was added"
    with pytest.raises(StorageError, match="not configured"):
        store(tmp_path, OLD).open_bytes(next(iter(written)))
    assert not list(tmp_path.rglob("*.rewrap"))  # no temporary file left behind


def test_files_under_an_unconfigured_or_damaged_key_are_reported_and_left_alone(tmp_path):
    lost = store(tmp_path, base64.b64encode(os.urandom(32)).decode()).save(b"key lost")
    damaged = store(tmp_path, OLD).save(os.urandom(SEGMENT + 10))
    path = store(tmp_path, OLD).blobs.path(damaged)
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 1
    path.write_bytes(bytes(raw))
    before = path.read_bytes()

    report = storage_rotate_keys(storage=store(tmp_path, f"{NEW},{OLD}"))
    assert report.rewrapped == 0 and set(report.failed) == {lost, damaged}
    assert "not configured" in report.failed[lost] and "integrity" in report.failed[damaged]
    assert path.read_bytes() == before


@pytest.fixture
def configured_storage(settings, tmp_path):
    settings.STORAGE_DIR = tmp_path / "storage"
    settings.ENCRYPT_FILES_AT_REST = True
    reset_storage()
    yield settings
    reset_storage()


def test_rotate_keys_command(db, configured_storage):
    configured_storage.ENCRYPTION_KEY = OLD
    reset_storage()
    from privexbot.storage import get_storage

    rel = get_storage().save(b"confidential upload")

    configured_storage.ENCRYPTION_KEY = f"{NEW},{OLD}"
    reset_storage()
    out = StringIO()
    call_command("rotate_keys", stdout=out)
    assert "1 stored files: 1 moved to the new key, 0 already on it" in out.getvalue()
    out = StringIO()
    call_command("rotate_keys", stdout=out)
    assert "0 moved to the new key, 1 already on it" in out.getvalue()
    event = AuditEvent.objects.filter(event_type="encryption", action="rotate_keys").latest("timestamp")
    assert event.success and event.details["current"] == 1

    configured_storage.ENCRYPTION_KEY = NEW  # the old key is gone: the file still opens
    reset_storage()
    assert get_storage().open_bytes(rel) == b"confidential upload"


def test_rotate_keys_command_fails_when_a_file_cannot_be_moved(db, configured_storage):
    configured_storage.ENCRYPTION_KEY = OLD
    reset_storage()
    from privexbot.storage import get_storage

    get_storage().save(b"under OLD")
    configured_storage.ENCRYPTION_KEY = NEW  # OLD dropped before rotating: the file cannot be read
    reset_storage()
    err = StringIO()
    with pytest.raises(CommandError, match="1 files could not be moved"):
        call_command("rotate_keys", stdout=StringIO(), stderr=err)
    assert "not configured" in err.getvalue()


def test_rotation_over_database_blobs_replaces_each_blob_in_place(db):
    from privexbot.models import StoredBlob
    from privexbot.storage.database import DatabaseBlobs

    blobs = DatabaseBlobs()
    written = {EncryptedStorage(blobs, parse_keyring(OLD)).save(data): data for data in CONTENTS}
    report = storage_rotate_keys(storage=EncryptedStorage(blobs, parse_keyring(f"{NEW},{OLD}")))
    assert (report.rewrapped, report.failed) == (3, {})
    only_new = EncryptedStorage(blobs, parse_keyring(NEW))
    assert {rel: only_new.open_bytes(rel) for rel in written} == written
    assert sorted(StoredBlob.objects.values_list("name", flat=True)) == sorted(written)  # no replacement left over
