"""Encrypted file storage for uploads.

Each file gets its own random 256-bit data key (AES-256-GCM). The data key is wrapped with a master
key from ENCRYPTION_KEY; the file header names the master key by id, so several master keys can be
configured ("new,old") and files written under an old key stay readable until `manage.py rotate_keys`
(storage_rotate_keys) moves them to the new one. Content is encrypted in 1 MiB segments so large uploads
never sit in memory twice; each segment's AAD binds the header, its index and whether it is the last
one, so segments cannot be reordered, dropped or the file truncated without detection. Because the AAD
binds the whole header, wrapped data key included, a rotation re-encrypts the content (segment by
segment, under a fresh data key) rather than re-wrapping the data key alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
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

    def stored_files(self) -> Iterator[str]:
        """Relative paths of every stored file (not the temporary files of writes in progress)."""
        if self.root.exists():
            for path in sorted(self.root.rglob("*.bin")):
                yield path.relative_to(self.root).as_posix()

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
    def key_state(self, rel: str) -> str:
        """ "current" (under the active master key), "old" (another configured key), "unknown" (a key that is
        not configured) or "plain" (not encrypted)."""
        with open(self._abs(rel), "rb") as fh:
            header = fh.read(_HEADER.size)
        if not header.startswith(MAGIC):
            return "plain"
        if len(header) < _HEADER.size:
            raise StorageError("file is truncated (shorter than its header)")
        kid = header[4:12]
        if self.active_key is not None and kid == key_id(self.active_key):
            return "current"
        return "old" if kid in self.keys else "unknown"

    def rewrap(self, rel: str) -> bool:
        """Re-encrypt a file under the active master key (after a rotation); atomic via rename. False when it
        is already under that key or not encrypted. The content streams through one segment at a time and is
        checked while it is read, so a damaged file raises StorageError and stays as it was."""
        if self.active_key is None or self.key_state(rel) in ("current", "plain"):
            return False
        path = self._abs(rel)
        tmp = path.with_suffix(".rewrap")
        try:
            with open(tmp, "wb") as out:
                self._write_encrypted(out, _with_last(self.iter_plaintext(rel)))
                out.flush()
                os.fsync(out.fileno())
            if not path.exists():  # deleted while it was being rewritten: do not bring it back
                tmp.unlink()
                return False
            tmp.rename(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
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


def _with_last(chunks: Iterable[bytes]) -> Iterator[tuple[bytes, bool]]:
    """(chunk, is_last) pairs; no chunks at all is one empty last segment, as _iter_segments gives."""
    iterator = iter(chunks)
    current = next(iterator, b"")
    for following in iterator:
        yield current, False
        current = following
    yield current, True


@dataclass
class RotationReport:
    rewrapped: int = 0  # moved to the active master key
    current: int = 0  # already under it
    plain: int = 0  # not encrypted (stored while ENCRYPT_FILES_AT_REST was off): left as they are
    failed: dict[str, str] = field(default_factory=dict)  # path -> why (a master key not configured, damage)

    @property
    def total(self) -> int:
        return self.rewrapped + self.current + self.plain + len(self.failed)


def storage_rotate_keys(*, storage: EncryptedStorage | None = None) -> RotationReport:
    """Move every stored file to the active (first) master key of ENCRYPTION_KEY. Idempotent: files already
    under it are only counted, so a run that was interrupted is finished by running it again. Once a run
    reports every encrypted file as current, the old keys can be removed from ENCRYPTION_KEY."""
    storage = storage or get_storage()
    if storage.active_key is None:
        raise ImproperlyConfigured("no ENCRYPTION_KEY is configured: there is no key to rotate to")
    report = RotationReport()
    for rel in storage.stored_files():
        try:
            state = storage.key_state(rel)
            if state == "unknown":
                report.failed[rel] = "encrypted with a master key that is not configured"
            elif state == "plain":
                report.plain += 1
            elif storage.rewrap(rel):
                report.rewrapped += 1
            else:
                report.current += 1
        except FileNotFoundError:
            continue  # deleted since it was listed
        except (StorageError, OSError) as exc:
            report.failed[rel] = str(exc)
    return report


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
