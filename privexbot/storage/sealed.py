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
