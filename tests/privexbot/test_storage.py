import base64
import io
import os

import pytest

from privexbot.storage import SEGMENT, EncryptedStorage, StorageError, parse_keyring

KEY_A = base64.b64encode(os.urandom(32)).decode()
KEY_B = base64.b64encode(os.urandom(32)).decode()
PLAINTEXT = b"Patient record: Jane Doe, diagnosis confidential. " * 3000  # > 1 segment? no: ~150 KB


def storage(tmp_path, keys):
    return EncryptedStorage(tmp_path, parse_keyring(keys))


def test_bytes_on_disk_do_not_contain_the_plaintext_and_round_trip(tmp_path):
    store = storage(tmp_path, KEY_A)
    rel = store.save(PLAINTEXT)
    raw = store.path(rel).read_bytes()
    assert b"Jane Doe" not in raw
    assert b"confidential" not in raw
    assert store.open_bytes(rel) == PLAINTEXT


@pytest.mark.parametrize("size", [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT + 17])
def test_round_trip_at_segment_boundaries_from_file_objects(tmp_path, size):
    store = storage(tmp_path, KEY_A)
    data = os.urandom(size)
    rel = store.save(io.BytesIO(data))
    assert store.open_bytes(rel) == data


def test_each_file_gets_its_own_data_key(tmp_path):
    store = storage(tmp_path, KEY_A)
    one, two = store.save(PLAINTEXT), store.save(PLAINTEXT)
    assert store.path(one).read_bytes()[60:] != store.path(two).read_bytes()[60:]


def test_files_written_under_an_old_key_open_after_a_new_key_is_added(tmp_path):
    old = storage(tmp_path, KEY_A)
    rel = old.save(PLAINTEXT)
    rotated = storage(tmp_path, f"{KEY_B},{KEY_A}")  # new key first: it writes; the old one still reads
    assert rotated.open_bytes(rel) == PLAINTEXT
    new_rel = rotated.save(b"written after rotation")
    with pytest.raises(StorageError, match="not configured"):
        old.open_bytes(new_rel)


def test_rewrap_moves_a_file_to_the_active_key(tmp_path):
    rel = storage(tmp_path, KEY_A).save(PLAINTEXT)
    rotated = storage(tmp_path, f"{KEY_B},{KEY_A}")
    assert rotated.rewrap(rel) is True
    assert rotated.rewrap(rel) is False  # already on the active key
    only_new = storage(tmp_path, KEY_B)
    assert only_new.open_bytes(rel) == PLAINTEXT


def test_tampering_and_truncation_are_detected(tmp_path):
    store = storage(tmp_path, KEY_A)
    rel = store.save(os.urandom(2 * SEGMENT + 5))
    path = store.path(rel)
    raw = bytearray(path.read_bytes())
    raw[200] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(StorageError, match="integrity"):
        store.open_bytes(rel)
    rel2 = store.save(os.urandom(2 * SEGMENT + 5))
    path2 = store.path(rel2)
    path2.write_bytes(path2.read_bytes()[: -(SEGMENT // 2)])
    with pytest.raises(StorageError):
        store.open_bytes(rel2)


def test_delete_removes_the_file(tmp_path):
    store = storage(tmp_path, KEY_A)
    rel = store.save(PLAINTEXT)
    assert store.delete(rel) is True
    assert not store.exists(rel)
    assert store.delete(rel) is False


def test_paths_cannot_escape_the_root(tmp_path):
    store = storage(tmp_path / "root", KEY_A)
    with pytest.raises(StorageError):
        store.open_bytes("../../etc/passwd")


def test_default_storage_encrypts_with_the_configured_key(settings):
    from privexbot.storage import get_storage

    store = get_storage()
    rel = store.save(b"top secret configured key")
    assert b"top secret" not in store.path(rel).read_bytes()
    assert store.open_bytes(rel) == b"top secret configured key"
    store.delete(rel)
