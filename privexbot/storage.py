"""Encrypted file storage for uploads.

Each file gets its own random 256-bit data key (AES-256-GCM). The data key is wrapped with a master
key from ENCRYPTION_KEY; the file header names the master key by id, so several master keys can be
configured ("new,old") and files written under an old key stay readable until `rotate_keys` rewraps
them. Content is encrypted in 1 MiB segments so large uploads never sit in memory twice; each
segment's AAD binds the header, its index and whether it is the last one, so segments cannot be
reordered, dropped or the file truncated without detection.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

MAGIC = b"PXE1"
SEGMENT = 1024 * 1024
_TAG = 16
_HEADER = struct.Struct(">4s8s12s48s8s")  # magic, key id, wrap nonce, wrapped key+tag, segment nonce prefix


class StorageError(Exception):
    pass


def _decode_key(text: str) -> bytes:
    text = text.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_" if "-" in text or "_" in text else None)
        if len(raw) == 32:
            return raw
    except (binascii.Error, ValueError):
        pass
    if len(text.encode()) == 32:
        return text.encode()
    raise ImproperlyConfigured(
        "ENCRYPTION_KEY entries must be 32 bytes: base64 (44 chars), hex (64 chars) or 32 raw characters"
    )


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"privexbot-key-id" + key).digest()[:8]


def parse_keyring(value: str | None) -> list[bytes]:
    if not value:
        return []
    return [_decode_key(part) for part in value.split(",") if part.strip()]


class EncryptedStorage:
    def __init__(self, root: Path, keys: list[bytes], *, encrypt: bool = True):
        if encrypt and not keys:
            raise ImproperlyConfigured("ENCRYPT_FILES_AT_REST is true but no ENCRYPTION_KEY is configured")
        self.root = Path(root)
        self.encrypt = encrypt
        self.keys = {key_id(k): k for k in keys}
        self.active_key = keys[0] if keys else None

    # -- paths
    def _abs(self, rel: str) -> Path:
        path = (self.root / rel).resolve()
        if self.root.resolve() not in path.parents:
            raise StorageError("path escapes the storage root")
        return path

    def _new_rel(self) -> str:
        now = datetime.now(UTC)
        return f"{now:%Y/%m}/{uuid.uuid4().hex}.bin"

    # -- write
    def save(self, data: bytes | BinaryIO) -> str:
        """Store bytes or a binary file object; returns the relative path to keep in the database."""
        rel = self._new_rel()
        path = self._abs(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        source = _iter_segments(data)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as out:
            if self.encrypt:
                self._write_encrypted(out, source)
            else:
                for segment, _ in source:
                    out.write(segment)
            out.flush()
            os.fsync(out.fileno())
        tmp.rename(path)
        return rel

    def _write_encrypted(self, out: BinaryIO, segments: Iterator[tuple[bytes, bool]]) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        data_key = AESGCM.generate_key(bit_length=256)
        kid = key_id(self.active_key)
        wrap_nonce = os.urandom(12)
        wrapped = AESGCM(self.active_key).encrypt(wrap_nonce, data_key, MAGIC + kid)
        prefix = os.urandom(8)
        header = _HEADER.pack(MAGIC, kid, wrap_nonce, wrapped, prefix)
        out.write(header)
        aead = AESGCM(data_key)
        for index, (segment, last) in enumerate(segments):
            out.write(aead.encrypt(prefix + struct.pack(">I", index), segment, _aad(header, index, last)))

    # -- read
    def open_bytes(self, rel: str) -> bytes:
        return b"".join(self.iter_plaintext(rel))

    def iter_plaintext(self, rel: str) -> Iterator[bytes]:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        with open(self._abs(rel), "rb") as fh:
            header = fh.read(_HEADER.size)
            if not header.startswith(MAGIC):
                if self.encrypt:
                    raise StorageError("file is not encrypted but ENCRYPT_FILES_AT_REST is on")
                yield header
                while chunk := fh.read(SEGMENT):
                    yield chunk
                return
            _, kid, wrap_nonce, wrapped, prefix = _HEADER.unpack(header)
            master = self.keys.get(kid)
            if master is None:
                raise StorageError("file was encrypted with a master key that is not configured")
            try:
                aead = AESGCM(AESGCM(master).decrypt(wrap_nonce, wrapped, MAGIC + kid))
                index = 0
                block = fh.read(SEGMENT + _TAG)
                while True:
                    following = fh.read(SEGMENT + _TAG)
                    last = not following
                    nonce = prefix + struct.pack(">I", index)
                    yield aead.decrypt(nonce, block, _aad(header, index, last))
                    if last:
                        return
                    block, index = following, index + 1
            except InvalidTag:
                raise StorageError("file failed its integrity check (tampered or truncated)") from None

    def copy_to(self, rel: str, destination: Path) -> Path:
        with open(destination, "wb") as out:
            for chunk in self.iter_plaintext(rel):
                out.write(chunk)
        return destination

    # -- maintenance
    def rewrap(self, rel: str) -> bool:
        """Re-encrypt a file under the active master key (after a rotation); atomic via rename."""
        path = self._abs(rel)
        with open(path, "rb") as fh:
            header = fh.read(_HEADER.size)
        if not header.startswith(MAGIC) or header[4:12] == key_id(self.active_key):
            return False
        tmp = path.with_suffix(".rewrap")
        with open(tmp, "wb") as out:
            self._write_encrypted(out, _iter_segments(self.open_bytes(rel)))
            out.flush()
            os.fsync(out.fileno())
        tmp.rename(path)
        return True

    def delete(self, rel: str) -> bool:
        """Overwrite then unlink. The per-file key dies with the header, so the data is unrecoverable
        even where the filesystem keeps old blocks (crypto-shredding)."""
        path = self._abs(rel)
        if not path.exists():
            return False
        size = path.stat().st_size
        with open(path, "r+b") as fh:
            fh.write(os.urandom(min(size, _HEADER.size)))
            fh.flush()
            os.fsync(fh.fileno())
        path.unlink()
        return True

    def exists(self, rel: str) -> bool:
        return self._abs(rel).exists()

    def path(self, rel: str) -> Path:
        return self._abs(rel)


def _aad(header: bytes, index: int, last: bool) -> bytes:
    return header + struct.pack(">I?", index, last)


def _iter_segments(data: bytes | BinaryIO) -> Iterator[tuple[bytes, bool]]:
    """Yields (segment, is_last); an empty input is one empty last segment."""
    if isinstance(data, bytes | bytearray | memoryview):
        data = bytes(data)
        chunks = [data[i : i + SEGMENT] for i in range(0, len(data), SEGMENT)] or [b""]
        for i, chunk in enumerate(chunks):
            yield chunk, i == len(chunks) - 1
        return
    current = data.read(SEGMENT)
    while True:
        following = data.read(SEGMENT)
        yield current, not following
        if not following:
            return
        current = following


_default: EncryptedStorage | None = None


def get_storage() -> EncryptedStorage:
    global _default
    if _default is None:
        _default = EncryptedStorage(
            settings.STORAGE_DIR,
            parse_keyring(settings.ENCRYPTION_KEY),
            encrypt=settings.ENCRYPT_FILES_AT_REST,
        )
    return _default


def reset_storage() -> None:
    """Settings changed (tests, key rotation): build the storage again on next use."""
    global _default
    _default = None
