import base64
import io
import os

import pytest

from privexbot.storage import SEGMENT, EncryptedStorage, StorageError, parse_keyring
from privexbot.storage.database import PART, DatabaseBlobs

KEY_A = base64.b64encode(os.urandom(32)).decode()
KEY_B = base64.b64encode(os.urandom(32)).decode()
PLAINTEXT = b"Patient record: Jane Doe, diagnosis confidential. " * 3000  # > 1 segment? no: ~150 KB


@pytest.fixture(params=["local", "database"])
def storage(request, tmp_path):
    """storage(root, keys): an encrypted storage over one blob store per test — a directory, or PostgreSQL
    (STORAGE_BACKEND=database) — so every behaviour below holds for both backends."""
    if request.param == "database":
        request.getfixturevalue("db")
        blobs = DatabaseBlobs()
        return lambda root, keys: EncryptedStorage(blobs, parse_keyring(keys))
    return lambda root, keys: EncryptedStorage(root, parse_keyring(keys))


def overwrite_raw(store, name: str, data: bytes) -> None:
    """Change the stored bytes behind the storage's back (an attacker with access to the store)."""
    with store.blobs.writer(name, replace=True) as out:
        out.write(data)


def test_bytes_on_disk_do_not_contain_the_plaintext_and_round_trip(storage, tmp_path):
    store = storage(tmp_path, KEY_A)
    rel = store.save(PLAINTEXT)
    raw = store.raw_bytes(rel)
    assert b"Jane Doe" not in raw
    assert b"confidential" not in raw
    assert store.open_bytes(rel) == PLAINTEXT


@pytest.mark.parametrize("size", [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT + 17])
def test_round_trip_at_segment_boundaries_from_file_objects(storage, tmp_path, size):
    store = storage(tmp_path, KEY_A)
    data = os.urandom(size)
    rel = store.save(io.BytesIO(data))
    assert store.open_bytes(rel) == data


def test_each_file_gets_its_own_data_key(storage, tmp_path):
    store = storage(tmp_path, KEY_A)
    one, two = store.save(PLAINTEXT), store.save(PLAINTEXT)
    assert store.raw_bytes(one)[60:] != store.raw_bytes(two)[60:]


def test_files_written_under_an_old_key_open_after_a_new_key_is_added(storage, tmp_path):
    old = storage(tmp_path, KEY_A)
    rel = old.save(PLAINTEXT)
    rotated = storage(tmp_path, f"{KEY_B},{KEY_A}")  # new key first: it writes; the old one still reads
    assert rotated.open_bytes(rel) == PLAINTEXT
    new_rel = rotated.save(b"written after rotation")
    with pytest.raises(StorageError, match="not configured"):
        old.open_bytes(new_rel)


def test_rewrap_moves_a_file_to_the_active_key(storage, tmp_path):
    rel = storage(tmp_path, KEY_A).save(PLAINTEXT)
    rotated = storage(tmp_path, f"{KEY_B},{KEY_A}")
    assert rotated.rewrap(rel) is True
    assert rotated.rewrap(rel) is False  # already on the active key
    only_new = storage(tmp_path, KEY_B)
    assert only_new.open_bytes(rel) == PLAINTEXT


def test_tampering_and_truncation_are_detected(storage, tmp_path):
    store = storage(tmp_path, KEY_A)
    rel = store.save(os.urandom(2 * SEGMENT + 5))
    raw = bytearray(store.raw_bytes(rel))
    raw[200] ^= 1
    overwrite_raw(store, rel, bytes(raw))
    with pytest.raises(StorageError, match="integrity"):
        store.open_bytes(rel)
    rel2 = store.save(os.urandom(2 * SEGMENT + 5))
    overwrite_raw(store, rel2, store.raw_bytes(rel2)[: -(SEGMENT // 2)])
    with pytest.raises(StorageError):
        store.open_bytes(rel2)


def test_delete_removes_the_file(storage, tmp_path):
    store = storage(tmp_path, KEY_A)
    rel = store.save(PLAINTEXT)
    assert store.delete(rel) is True
    assert not store.exists(rel)
    assert store.delete(rel) is False


def test_paths_cannot_escape_the_root(tmp_path):
    store = EncryptedStorage(tmp_path / "root", parse_keyring(KEY_A))
    with pytest.raises(StorageError):
        store.open_bytes("../../etc/passwd")


def test_default_storage_encrypts_with_the_configured_key(settings):
    from privexbot.storage import get_storage

    store = get_storage()
    rel = store.save(b"top secret configured key")
    assert b"top secret" not in store.raw_bytes(rel)
    assert store.open_bytes(rel) == b"top secret configured key"
    store.delete(rel)


def test_database_blobs_hold_only_ciphertext_in_parts_and_a_rolled_back_write_leaves_nothing(db):
    from django.db import transaction

    from privexbot.models import StoredBlob, StoredBlobPart

    store = EncryptedStorage(DatabaseBlobs(), parse_keyring(KEY_A))
    data = PLAINTEXT * 10  # ~1.5 MB: several parts
    name = store.save(data)
    blob = StoredBlob.objects.get(name=name)
    parts = list(StoredBlobPart.objects.filter(blob=blob).order_by("index").values_list("data", flat=True))
    assert blob.parts == len(parts) >= 2 and all(len(p) <= PART for p in parts)
    assert blob.size == sum(len(p) for p in parts) and store.usage() == (1, blob.size)
    assert not any(b"Jane Doe" in bytes(p) for p in parts)
    assert store.open_bytes(name) == data

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        lost = store.save(b"uploaded inside a request that then failed")
        raise Boom
    assert not store.exists(lost) and list(store.stored_files()) == [name]


def test_a_replacement_never_brings_back_a_blob_deleted_meanwhile(storage, tmp_path):
    store = storage(tmp_path, KEY_A)
    name = store.save(PLAINTEXT)
    with store.blobs.writer(name, replace=True) as out:
        out.write(b"rewritten")
        store.delete(name)
    assert not store.exists(name) and list(store.stored_files()) == []
