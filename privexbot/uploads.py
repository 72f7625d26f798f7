"""An upload handler that never writes an uploaded file to disk in the clear.

Django keeps small uploads in memory (MemoryFileUploadHandler, up to FILE_UPLOAD_MAX_MEMORY_SIZE) and spools
larger ones to the temporary directory as plain files (TemporaryFileUploadHandler), which stay there when the
web process is killed. `EncryptedUploadHandler` replaces the latter: the bytes are encrypted while they stream
in (AES-256-GCM, in segments, under a random key that exists only in this process's memory) into an anonymous
file — unlinked from the start, in this process's private directory (privexbot.sandbox) — so neither a listing
nor a copy of the disk, nor a crash, ever leaves readable content. The upload reads back as a seekable file
(what kb.services.file_accept's checks and the encrypted store need), decrypted one segment at a time.
"""

from __future__ import annotations

import io
import os
import tempfile

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler

SEGMENT = 64 * 1024
TAG = 16


class EncryptedSpool(io.RawIOBase):
    """Write once (append), then read and seek freely. Only this object holds the key."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        from privexbot.sandbox import process_dir

        super().__init__()
        self._aead = AESGCM(AESGCM.generate_key(bit_length=256))
        self._file = tempfile.TemporaryFile(dir=process_dir())  # noqa: SIM115 - lives as long as the upload
        self._pending = bytearray()
        self._segments = 0
        self.size = 0
        self._finished = False
        self._pos = 0
        self._cached: tuple[int, bytes] | None = None

    # -- writing (the upload handler)
    def append(self, data: bytes) -> None:
        if self._finished:
            raise ValueError("the spool is complete")
        self._pending += data
        self.size += len(data)
        while len(self._pending) >= SEGMENT:
            self._seal(bytes(self._pending[:SEGMENT]))
            del self._pending[:SEGMENT]

    def finish(self) -> None:
        if not self._finished:
            if self._pending:
                self._seal(bytes(self._pending))
                self._pending.clear()
            self._finished = True

    def _seal(self, segment: bytes) -> None:
        self._file.seek(self._segments * (SEGMENT + TAG))
        self._file.write(self._aead.encrypt(self._nonce(self._segments), segment, None))
        self._segments += 1

    @staticmethod
    def _nonce(index: int) -> bytes:
        return index.to_bytes(12, "big")  # one key per spool, one nonce per segment

    # -- reading (file_accept, the encrypted store)
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        self.finish()
        end = self.size if size is None or size < 0 else min(self.size, self._pos + size)
        parts = []
        while self._pos < end:
            index, offset = divmod(self._pos, SEGMENT)
            segment = self._segment(index)
            part = segment[offset : offset + end - self._pos]
            parts.append(part)
            self._pos += len(part)
        return b"".join(parts)

    def readall(self) -> bytes:
        return self.read(-1)

    def _segment(self, index: int) -> bytes:
        if self._cached is None or self._cached[0] != index:
            length = min(SEGMENT, self.size - index * SEGMENT) + TAG
            self._file.seek(index * (SEGMENT + TAG))
            self._cached = (index, self._aead.decrypt(self._nonce(index), self._file.read(length), None))
        return self._cached[1]

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if not self.closed:
            self._file.close()
            self._cached = None
        super().close()


class EncryptedUploadedFile(UploadedFile):
    """request.FILES entry for an upload spooled by EncryptedUploadHandler. Unlike Django's TemporaryUploadedFile
    it has no temporary_file_path(): no plaintext path exists, by design."""


class EncryptedUploadHandler(FileUploadHandler):
    """In FILE_UPLOAD_HANDLERS after MemoryFileUploadHandler, in place of TemporaryFileUploadHandler."""

    spool: EncryptedSpool | None = None

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.spool = EncryptedSpool()

    def receive_data_chunk(self, raw_data, start):
        self.spool.append(raw_data)
        return None  # the last handler: nothing is passed on

    def file_complete(self, file_size):
        self.spool.finish()
        return EncryptedUploadedFile(
            file=self.spool,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )

    def upload_interrupted(self):
        if self.spool is not None:
            self.spool.close()
