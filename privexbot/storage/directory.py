"""Blobs as files under one directory: the single-machine default."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from privexbot.storage.sealed import HEADER, StorageError


class DirectoryBlobs:
    kind = "local"

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if self.root.resolve() not in path.parents:
            raise StorageError("path escapes the storage root")
        return path

    @contextmanager
    def writer(self, name: str, *, replace: bool = False) -> Iterator[BinaryIO]:
        """A file to write `name` into; it appears (or replaces the old one) only once the block ends without
        an error. A replacement whose original was deleted meanwhile is dropped, so a delete always wins."""
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".rewrap" if replace else ".tmp")
        try:
            with open(tmp, "wb") as out:
                yield out
                out.flush()
                os.fsync(out.fileno())
            if replace and not path.exists():
                tmp.unlink()
                return
            tmp.rename(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    @contextmanager
    def reader(self, name: str) -> Iterator[BinaryIO]:
        with open(self.path(name), "rb") as fh:
            yield fh

    def head(self, name: str) -> bytes:
        with open(self.path(name), "rb") as fh:
            return fh.read(HEADER.size)

    def delete(self, name: str) -> bool:
        """Overwrite the header (the wrapped per-file key) then unlink: the content cannot be decrypted even
        where the filesystem keeps old blocks (crypto-shredding)."""
        path = self.path(name)
        if not path.exists():
            return False
        size = path.stat().st_size
        with open(path, "r+b") as fh:
            fh.write(os.urandom(min(size, HEADER.size)))
            fh.flush()
            os.fsync(fh.fileno())
        path.unlink()
        return True

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def names(self) -> Iterator[str]:
        """Every stored blob (not the temporary files of writes in progress)."""
        if self.root.exists():
            for path in sorted(self.root.rglob("*.bin")):
                yield path.relative_to(self.root).as_posix()

    def usage(self) -> tuple[int, int]:
        count = size = 0
        if self.root.exists():
            for path in self.root.rglob("*.bin"):
                try:
                    size += path.stat().st_size
                except FileNotFoundError:  # deleted while counted
                    continue
                count += 1
        return count, size
