"""Blobs as rows in PostgreSQL: storage that every machine reaches through DATABASE_URL alone.

Chosen for workers on several machines because it adds no service to run, secure and back up: the blobs
are already ciphertext (sealed before they reach this module), a write is visible exactly when the
transaction that made it commits (no orphan file after a rolled-back upload, no file without its row),
and one pg_dump captures documents and their files at the same instant. A blob is split into parts of
about 1 MiB so neither side ever holds a large file in memory.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction
from django.db.models import Count, Sum

from privexbot.storage.sealed import HEADER, StorageError

PART = 1024 * 1024
_REPLACING = ".replacing-"


class _PartWriter:
    def __init__(self, blob):
        self.blob = blob
        self.buffer = bytearray()
        self.index = 0
        self.size = 0

    def write(self, data: bytes) -> int:
        self.buffer += data
        while len(self.buffer) >= PART:
            self._flush(bytes(self.buffer[:PART]))
            del self.buffer[:PART]
        return len(data)

    def _flush(self, data: bytes) -> None:
        from privexbot.models import StoredBlobPart

        StoredBlobPart.objects.create(blob=self.blob, index=self.index, data=data)
        self.index += 1
        self.size += len(data)

    def close(self) -> None:
        if self.buffer or self.index == 0:
            self._flush(bytes(self.buffer))
            self.buffer.clear()
        self.blob.size = self.size
        self.blob.parts = self.index
        self.blob.save(update_fields=["size", "parts"])


class _PartReader:
    """A read-only file over a blob's parts, fetched one at a time. A part that vanished mid-read (the blob
    was deleted or replaced by a key rotation) is an error, never silently short content."""

    def __init__(self, blob_id: int, parts: int):
        self.blob_id, self.parts = blob_id, parts
        self.next_index = 0
        self.buffer = b""

    def read(self, size: int = -1) -> bytes:
        from privexbot.models import StoredBlobPart

        while (size < 0 or len(self.buffer) < size) and self.next_index < self.parts:
            data = (
                StoredBlobPart.objects.filter(blob_id=self.blob_id, index=self.next_index)
                .values_list("data", flat=True)
                .first()
            )
            if data is None:
                raise StorageError("file changed or was deleted while it was read")
            self.buffer += bytes(data)
            self.next_index += 1
        if size < 0:
            size = len(self.buffer)
        out, self.buffer = self.buffer[:size], self.buffer[size:]
        return out


class DatabaseBlobs:
    kind = "database"

    @contextmanager
    def writer(self, name: str, *, replace: bool = False) -> Iterator[_PartWriter]:
        """Parts written inside one transaction (a savepoint when the caller has one open): the blob appears
        whole or not at all. A replacement is written under a temporary name and swapped in under a row
        lock; if the original was deleted meanwhile the replacement is dropped, so a delete always wins."""
        from privexbot.models import StoredBlob

        with transaction.atomic():
            blob = StoredBlob.objects.create(name=f"{name}{_REPLACING}{uuid.uuid4().hex}" if replace else name)
            out = _PartWriter(blob)
            yield out
            out.close()
            if replace:
                original = StoredBlob.objects.select_for_update().filter(name=name).first()
                if original is None:
                    self._delete_rows(blob.pk)
                    return
                self._delete_rows(original.pk)
                StoredBlob.objects.filter(pk=blob.pk).update(name=name)

    @contextmanager
    def reader(self, name: str) -> Iterator[_PartReader]:
        from privexbot.models import StoredBlob

        row = StoredBlob.objects.filter(name=name).values_list("pk", "parts").first()
        if row is None:
            raise FileNotFoundError(name)
        yield _PartReader(*row)

    def head(self, name: str) -> bytes:
        with self.reader(name) as fh:
            return fh.read(HEADER.size)

    def delete(self, name: str) -> bool:
        """The rows go, the sealed header (the wrapped per-file key) with them: no live row and no pg_dump holds
        it any more. Overwriting the header in place first would not help: under MVCC an UPDATE writes a new row
        version and leaves the old one, header included, as a dead tuple exactly like DELETE does. Dead tuples
        stay on disk until VACUUM reclaims them (kb.deletion runs `vacuum_blobs` after a deletion commits) and
        freed pages keep their bytes until reused, so on this backend the guarantee is "unreadable through
        PostgreSQL", not "erased from the disk": that needs the disk encrypted, or VACUUM FULL."""
        from privexbot.models import StoredBlob

        pk = StoredBlob.objects.filter(name=name).values_list("pk", flat=True).first()
        if pk is None:
            return False
        self._delete_rows(pk)
        return True

    @staticmethod
    def _delete_rows(pk: int) -> None:
        from privexbot.models import StoredBlob, StoredBlobPart

        with transaction.atomic():
            StoredBlobPart.objects.filter(blob_id=pk).delete()
            StoredBlob.objects.filter(pk=pk).delete()

    def exists(self, name: str) -> bool:
        from privexbot.models import StoredBlob

        return StoredBlob.objects.filter(name=name).exists()

    def names(self) -> Iterator[str]:
        from privexbot.models import StoredBlob

        rows = StoredBlob.objects.exclude(name__contains=_REPLACING).order_by("name").values_list("name", flat=True)
        yield from rows.iterator()

    def usage(self) -> tuple[int, int]:
        from privexbot.models import StoredBlob

        totals = StoredBlob.objects.exclude(name__contains=_REPLACING).aggregate(n=Count("pk"), size=Sum("size"))
        return totals["n"], int(totals["size"] or 0)


def vacuum_blobs() -> bool:
    """VACUUM the blob tables: dead row versions of deleted parts are pruned now, not at the next autovacuum.
    VACUUM cannot run inside a transaction block; then (a caller's transaction, a test's) it is skipped and
    False returned: autovacuum does it later."""
    from django.db import connection

    if connection.in_atomic_block:
        return False
    with connection.cursor() as cursor:
        cursor.execute("VACUUM privexbot_storedblobpart, privexbot_storedblob")
    return True
