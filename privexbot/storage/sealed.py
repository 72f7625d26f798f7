"""The sealed format: AES-256-GCM under a per-file data key, wrapped by a master key the header names by id.

Content is encrypted in 1 MiB segments so large files never sit in memory twice; each segment's AAD binds
the header, its index and whether it is the last one, so segments cannot be reordered, dropped or the file
truncated without detection. Because the AAD binds the whole header, wrapped data key included, moving a
file to another master key re-encrypts the content under a fresh data key. Stored files and backup archives
use the same format, under different keys.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator
from typing import BinaryIO, Protocol

from privexbot.storage.keys import key_id

MAGIC = b"PXE1"
SEGMENT = 1024 * 1024
TAG = 16
HEADER = struct.Struct(">4s8s12s48s8s")  # magic, key id, wrap nonce, wrapped key+tag, segment nonce prefix


class StorageError(Exception):
    pass


class Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


def seal(out: Writable, segments: Iterable[tuple[bytes, bool]], master: bytes) -> None:
    """Write (segment, is_last) pairs to `out`, encrypted under a fresh data key wrapped by `master`."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    data_key = AESGCM.generate_key(bit_length=256)
    kid = key_id(master)
    wrap_nonce = os.urandom(12)
    wrapped = AESGCM(master).encrypt(wrap_nonce, data_key, MAGIC + kid)
    prefix = os.urandom(8)
    header = HEADER.pack(MAGIC, kid, wrap_nonce, wrapped, prefix)
    out.write(header)
    aead = AESGCM(data_key)
    for index, (segment, last) in enumerate(segments):
        out.write(aead.encrypt(prefix + struct.pack(">I", index), segment, _aad(header, index, last)))


def unseal(fh: BinaryIO, header: bytes, keys: dict[bytes, bytes]) -> Iterator[bytes]:
    """The plaintext segments of a sealed stream whose header was already read from `fh`."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if len(header) < HEADER.size:
        raise StorageError("file is truncated (shorter than its header)")
    _, kid, wrap_nonce, wrapped, prefix = HEADER.unpack(header)
    master = keys.get(kid)
    if master is None:
        raise StorageError("file was encrypted with a master key that is not configured")
    try:
        aead = AESGCM(AESGCM(master).decrypt(wrap_nonce, wrapped, MAGIC + kid))
        index = 0
        block = fh.read(SEGMENT + TAG)
        while True:
            following = fh.read(SEGMENT + TAG)
            last = not following
            yield aead.decrypt(prefix + struct.pack(">I", index), block, _aad(header, index, last))
            if last:
                return
            block, index = following, index + 1
    except InvalidTag:
        raise StorageError("file failed its integrity check (tampered or truncated)") from None


def header_key_id(header: bytes) -> bytes | None:
    """The id of the master key a sealed header names; None when the bytes are not sealed."""
    if not header.startswith(MAGIC):
        return None
    if len(header) < HEADER.size:
        raise StorageError("file is truncated (shorter than its header)")
    return header[4:12]


def _aad(header: bytes, index: int, last: bool) -> bytes:
    return header + struct.pack(">I?", index, last)


def iter_segments(data: bytes | BinaryIO) -> Iterator[tuple[bytes, bool]]:
    """Yields (segment, is_last); an empty input is one empty last segment."""
    if isinstance(data, bytes | bytearray | memoryview):
        data = bytes(data)
        chunks = [data[i : i + SEGMENT] for i in range(0, len(data), SEGMENT)] or [b""]
        for i, chunk in enumerate(chunks):
            yield chunk, i == len(chunks) - 1
        return
    current = _read_full(data, SEGMENT)
    while True:
        following = _read_full(data, SEGMENT)
        yield current, not following
        if not following:
            return
        current = following


def _read_full(fh: BinaryIO, size: int) -> bytes:
    """Up to `size` bytes; short only at the end (a pipe's read() may return less before its end)."""
    parts, missing = [], size
    while missing:
        part = fh.read(missing)
        if not part:
            break
        parts.append(part)
        missing -= len(part)
    return b"".join(parts)


def with_last(chunks: Iterable[bytes]) -> Iterator[tuple[bytes, bool]]:
    """(chunk, is_last) pairs; no chunks at all is one empty last segment, as iter_segments gives."""
    iterator = iter(chunks)
    current = next(iterator, b"")
    for following in iterator:
        yield current, False
        current = following
    yield current, True


class SealedWriter:
    """A write-only file that seals what is written to it into `out` — for producers that push bytes (tarfile,
    a child's pipe) rather than hand over segments. The same bytes on disk as `seal(out, iter_segments(...))`:
    a full segment is sealed only once more data follows it, so the last one is known when it is written."""

    def __init__(self, out: Writable, master: bytes):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        data_key = AESGCM.generate_key(bit_length=256)
        kid = key_id(master)
        wrap_nonce = os.urandom(12)
        wrapped = AESGCM(master).encrypt(wrap_nonce, data_key, MAGIC + kid)
        self._prefix = os.urandom(8)
        self._header = HEADER.pack(MAGIC, kid, wrap_nonce, wrapped, self._prefix)
        self._aead = AESGCM(data_key)
        self._out = out
        self._out.write(self._header)
        self._buffer = bytearray()
        self._index = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self._buffer += data
        while len(self._buffer) > SEGMENT:
            self._emit(bytes(self._buffer[:SEGMENT]), last=False)
            del self._buffer[:SEGMENT]
        return len(data)

    def _emit(self, segment: bytes, *, last: bool) -> None:
        nonce = self._prefix + struct.pack(">I", self._index)
        self._out.write(self._aead.encrypt(nonce, segment, _aad(self._header, self._index, last)))
        self._index += 1

    def close(self) -> None:
        if not self.closed:
            self._emit(bytes(self._buffer), last=True)
            self._buffer.clear()
            self.closed = True


class UnsealedReader:
    """A read-only file over the plaintext of a sealed stream (for tarfile or a child's stdin)."""

    def __init__(self, fh: BinaryIO, keys: dict[bytes, bytes]):
        self._segments = unseal(fh, fh.read(HEADER.size), keys)
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            segment = next(self._segments, None)
            if segment is None:
                break
            self._buffer += segment
        if size < 0:
            size = len(self._buffer)
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out
