"""Reading an uploaded archive safely: the container checks (type, size, entry names, zip-bomb ratios, the same
ones uploads get in kb.pipeline.filecheck), then every member hashed in a stream that never reads more than the
manifest declared — so a lying central directory or a bomb stops at its declared size, before any row exists."""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

from kb.pipeline.filecheck import check_entry_name, check_entry_size
from kb.pipeline.types import PipelineError
from kb.portability.manifest import MANIFEST, MANIFEST_MAX_BYTES, ArchiveError, validate_manifest

_READ = 1024 * 1024
MEMBERS_PER_DOCUMENT = 5  # document.json, original, elements, chunks, embeddings
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError)


def _human(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n} bytes"


@contextmanager
def archive_bytes(source) -> Iterator:
    """A binary file positioned at 0: `source` itself when it is a seekable file (an upload, read in place so no
    plaintext copy is made), else the file at the path `source`, closed on exit."""
    if hasattr(source, "read"):
        source.seek(0)
        yield source
        return
    with open(source, "rb") as fh:
        yield fh


def open_archive(source) -> zipfile.ZipFile:
    """The zip at `source` (a path, or a seekable binary file: see archive_bytes) once its container passed the
    checks; raises ArchiveError."""
    with archive_bytes(source) as fh:
        head = fh.read(4)
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(0)
    if size > settings.KB_ARCHIVE_MAX_SIZE:
        raise ArchiveError(
            "too_large", f"The archive is {_human(size)}; the limit is {_human(settings.KB_ARCHIVE_MAX_SIZE)}.",
            http_status=413,
        )  # fmt: skip
    if head != b"PK\x03\x04":
        raise ArchiveError(
            "unsupported_type", "This file is not a knowledge-base archive (a .zip exported by PrivexBot KB).",
            http_status=415,
        )  # fmt: skip
    try:
        zf = zipfile.ZipFile(source if hasattr(source, "read") else str(source))
        infos = zf.infolist()
    except _ZIP_ERRORS as exc:
        raise ArchiveError("corrupt", f"The archive is damaged and cannot be opened ({exc}).") from exc
    try:
        _check_listing(infos, size)
    except BaseException:
        zf.close()
        raise
    return zf


def _check_listing(infos: list[zipfile.ZipInfo], archive_size: int) -> None:
    limit = MEMBERS_PER_DOCUMENT * settings.KB_ARCHIVE_MAX_DOCUMENTS + 1
    if len(infos) > limit:
        raise ArchiveError("zip_bomb", f"The archive has {len(infos)} entries (limit {limit}).")
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise ArchiveError("invalid_archive", "The archive holds the same entry twice.")
    total = 0
    try:
        for info in infos:
            check_entry_name(info.filename)
            if info.flag_bits & 0x1:  # zip-level encryption: our exports never use it, and reading it raises
                raise ArchiveError("encrypted", f"The archive has an encrypted entry ({info.filename!r}).")
            check_entry_size(info.filename, info.file_size, info.compress_size)
            total += info.file_size
    except PipelineError as exc:
        raise ArchiveError(exc.code, exc.message) from None
    if total > settings.KB_ARCHIVE_MAX_EXPANDED:
        raise ArchiveError(
            "zip_bomb", f"The archive expands to {_human(total)} (limit {_human(settings.KB_ARCHIVE_MAX_EXPANDED)}).",
            http_status=413,
        )  # fmt: skip


class _Bounded:
    """A member's bytes, refused past `limit` (the size the manifest declared) whatever the zip says."""

    def __init__(self, fh, name: str, limit: int):
        self.fh, self.name, self.limit, self.seen = fh, name, limit, 0
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.fh.read(self.limit - self.seen + 1 if size < 0 else min(size, self.limit - self.seen + 1))
        self.seen += len(data)
        if self.seen > self.limit:
            raise ArchiveError("zip_bomb", f"The archive entry {self.name!r} expands beyond its declared size.")
        self.digest.update(data)
        return data


@contextmanager
def member(zf: zipfile.ZipFile, manifest: dict, name: str) -> Iterator[_Bounded]:
    entry = manifest["members"][name]
    try:
        with zf.open(name) as fh:
            yield _Bounded(fh, name, entry["bytes"])
    except ArchiveError:
        raise
    except _ZIP_ERRORS as exc:
        raise ArchiveError("corrupt", f"The archive entry {name!r} is damaged ({exc}).") from exc


def read_json(zf: zipfile.ZipFile, manifest: dict, name: str):
    with member(zf, manifest, name) as fh:
        data = fh.read()
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError):
        raise ArchiveError("invalid_archive", f"The archive entry {name!r} is not valid JSON.") from None


def read_manifest(zf: zipfile.ZipFile) -> dict:
    try:
        info = zf.getinfo(MANIFEST)
    except KeyError:
        raise ArchiveError(
            "invalid_archive", "This is not a knowledge-base archive: it has no manifest.json."
        ) from None
    if info.file_size > MANIFEST_MAX_BYTES:
        raise ArchiveError("zip_bomb", "The archive's manifest.json is too large.")
    pseudo = {"members": {MANIFEST: {"bytes": info.file_size}}}
    return validate_manifest(read_json(zf, pseudo, MANIFEST))


def verify_members(zf: zipfile.ZipFile, manifest: dict) -> None:
    """Every entry is listed, every listed member is there with its declared size and sha256 (streamed)."""
    listed = set(manifest["members"])
    present = {i.filename for i in zf.infolist() if not i.is_dir()} - {MANIFEST}
    if present - listed:
        raise ArchiveError(
            "invalid_archive", f"The archive holds {sorted(present - listed)[0]!r}, which its manifest does not list."
        )
    if listed - present:
        raise ArchiveError(
            "invalid_archive", f"The archive lacks {sorted(listed - present)[0]!r}, which its manifest lists."
        )
    for name, entry in manifest["members"].items():
        if zf.getinfo(name).file_size != entry["bytes"]:
            raise ArchiveError("tampered", f"The archive entry {name!r} does not have the size its manifest records.")
        with member(zf, manifest, name) as fh:
            while fh.read(_READ):
                pass
        if fh.seen != entry["bytes"] or fh.digest.hexdigest() != entry["sha256"]:
            raise ArchiveError(
                "tampered",
                f"The archive entry {name!r} does not match its sha256 in the manifest: it was changed or damaged.",
            )
