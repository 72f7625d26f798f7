"""Encrypted file storage for uploads and derived files (parsed elements): sealed before it reaches a blob
store, so the store — a directory or PostgreSQL — only ever holds ciphertext.

Each file gets its own random 256-bit data key wrapped with a master key from ENCRYPTION_KEY; the header
names the master key by id, so several master keys can be configured ("new,old") and files written under an
old key stay readable until `manage.py rotate_keys` (storage_rotate_keys) moves them to the new one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from django.core.exceptions import ImproperlyConfigured

from privexbot.storage.directory import DirectoryBlobs
from privexbot.storage.keys import key_id
from privexbot.storage.sealed import HEADER, MAGIC, StorageError, header_key_id, iter_segments, seal, unseal, with_last


class BlobStore(Protocol):
    kind: str

    def writer(self, name: str, *, replace: bool = False): ...
    def reader(self, name: str): ...
    def head(self, name: str) -> bytes: ...
    def delete(self, name: str) -> bool: ...
    def exists(self, name: str) -> bool: ...
    def names(self) -> Iterator[str]: ...
    def usage(self) -> tuple[int, int]: ...


class EncryptedStorage:
    def __init__(self, blobs: BlobStore | Path, keys: list[bytes], *, encrypt: bool = True):
        if encrypt and not keys:
            raise ImproperlyConfigured("ENCRYPT_FILES_AT_REST is true but no ENCRYPTION_KEY is configured")
        self.blobs = DirectoryBlobs(blobs) if isinstance(blobs, Path | str) else blobs
        self.encrypt = encrypt
        self.keys = {key_id(k): k for k in keys}
        self.active_key = keys[0] if keys else None

    @staticmethod
    def _new_name() -> str:
        return f"{datetime.now(UTC):%Y/%m}/{uuid.uuid4().hex}.bin"

    # -- write
    def save(self, data: bytes | BinaryIO) -> str:
        """Store bytes or a binary file object; returns the name to keep in the database."""
        name = self._new_name()
        with self.blobs.writer(name) as out:
            if self.encrypt:
                seal(out, iter_segments(data), self.active_key)
            else:
                for segment, _ in iter_segments(data):
                    out.write(segment)
        return name

    # -- read
    def open_bytes(self, name: str) -> bytes:
        return b"".join(self.iter_plaintext(name))

    def iter_plaintext(self, name: str) -> Iterator[bytes]:
        with self.blobs.reader(name) as fh:
            header = fh.read(HEADER.size)
            if not header.startswith(MAGIC):
                if self.encrypt:
                    raise StorageError("file is not encrypted but ENCRYPT_FILES_AT_REST is on")
                yield header
                while chunk := fh.read(1024 * 1024):
                    yield chunk
                return
            yield from unseal(fh, header, self.keys)

    def raw_bytes(self, name: str) -> bytes:
        """The bytes as the store holds them (ciphertext when encrypted): for checks, never for use."""
        with self.blobs.reader(name) as fh:
            return fh.read()

    def copy_to(self, name: str, destination: Path) -> Path:
        with open(destination, "wb") as out:
            for chunk in self.iter_plaintext(name):
                out.write(chunk)
        return destination

    # -- maintenance
    def key_state(self, name: str) -> str:
        """ "current" (under the active master key), "old" (another configured key), "unknown" (a key that is
        not configured) or "plain" (not encrypted)."""
        kid = header_key_id(self.blobs.head(name))
        if kid is None:
            return "plain"
        if self.active_key is not None and kid == key_id(self.active_key):
            return "current"
        return "old" if kid in self.keys else "unknown"

    def rewrap(self, name: str) -> bool:
        """Re-encrypt a file under the active master key (after a rotation), replacing it atomically. False when
        it is already under that key or not encrypted. The content streams through one segment at a time and
        is checked while it is read, so a damaged file raises StorageError and stays as it was."""
        if self.active_key is None or self.key_state(name) in ("current", "plain"):
            return False
        with self.blobs.writer(name, replace=True) as out:
            seal(out, with_last(self.iter_plaintext(name)), self.active_key)
        return self.blobs.exists(name)

    def delete(self, name: str) -> bool:
        return self.blobs.delete(name)

    def exists(self, name: str) -> bool:
        return self.blobs.exists(name)

    def stored_files(self) -> Iterator[str]:
        return self.blobs.names()

    def usage(self) -> tuple[int, int]:
        """(files, bytes) held by the store."""
        return self.blobs.usage()
