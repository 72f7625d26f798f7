"""Encrypted file storage: the sealed format (`sealed`), master keys (`keys`), the blob stores it writes to
(`directory` — one machine; `database` — PostgreSQL, reachable from every machine), and `get_storage()`, the
one configured instance (STORAGE_BACKEND)."""

from __future__ import annotations

from django.conf import settings

from privexbot.storage.encrypted import EncryptedStorage
from privexbot.storage.keys import key_id, parse_keyring
from privexbot.storage.rotation import RotationReport, storage_rotate_keys
from privexbot.storage.sealed import MAGIC, SEGMENT, StorageError

__all__ = [
    "MAGIC",
    "SEGMENT",
    "EncryptedStorage",
    "RotationReport",
    "StorageError",
    "get_storage",
    "key_id",
    "parse_keyring",
    "reset_storage",
    "storage_rotate_keys",
]

_default: EncryptedStorage | None = None


def get_storage() -> EncryptedStorage:
    global _default
    if _default is None:
        if settings.STORAGE_BACKEND == "database":
            from privexbot.storage.database import DatabaseBlobs

            blobs = DatabaseBlobs()
        else:
            from privexbot.storage.directory import DirectoryBlobs

            blobs = DirectoryBlobs(settings.STORAGE_DIR)
        _default = EncryptedStorage(
            blobs, parse_keyring(settings.ENCRYPTION_KEY), encrypt=settings.ENCRYPT_FILES_AT_REST
        )
    return _default


def reset_storage() -> None:
    """Settings changed (tests, key rotation): build the storage again on next use."""
    global _default
    _default = None
