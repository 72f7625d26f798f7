"""Portable KB archives: export a knowledge base as one zip, import it into another workspace or installation
so the same queries give the same results without embedding anything again.

manifest.py  the schema version, the member layout and the checks on what an archive says
export.py    the archive written as a stream (one document, one member at a time)
archive.py   reading an uploaded archive safely (container checks, hashed bounded reads)
importer.py  check everything, then create the KB, documents, elements and chunks in one transaction

Every door (the pages, the API, `manage.py kb_export` / `kb_import`, the user-data export) calls the functions
below, which audit and count. The caller passes a KB that came through the access funnel (kb_get_for_user) and
a workspace the user may create KBs in (workspace_get_for_user with kb:create; checked again here).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import transaction

from kb.models import Chunk, DocumentStatus, KnowledgeBase
from kb.portability.archive import archive_bytes
from kb.portability.export import ArchiveStream
from kb.portability.importer import import_archive
from kb.portability.manifest import SCHEMA_VERSION, ArchiveError
from privexbot.audit import audit_record
from privexbot.metrics.definitions import DATA_EXPORTS, KB_IMPORTS

__all__ = [
    "SCHEMA_VERSION",
    "ArchiveError",
    "ArchiveStream",
    "archive_filename",
    "kb_export_archive",
    "kb_export_stream",
    "kb_import_archive",
    "uploaded_archive",
]


def archive_filename(kb: KnowledgeBase) -> str:
    from django.utils.text import slugify

    return f"{slugify(kb.name) or 'knowledge-base'}.pxkb.zip"


def kb_export_stream(
    *, kb: KnowledgeBase, user, include_files: bool = True, door: str = "web", request=None
) -> ArchiveStream:
    """The archive as an iterable of byte pieces (for a streamed download). Audited and counted now, when the
    data is released, not when the last byte left: a download cut short was still an export."""
    ready = kb.documents.filter(status=DocumentStatus.READY)
    audit_record(
        event_type="data_export", action="export", user=user, request=request, workspace=kb.workspace, resource=kb,
        details={"door": door, "format": "kb-archive", "schema_version": SCHEMA_VERSION, "include_files": include_files,
                 "documents": kb.documents.count(), "ready_documents": ready.count(),
                 "chunks": Chunk.objects.filter(kb=kb, generation=kb.generation, document__in=ready).count()},
    )  # fmt: skip
    DATA_EXPORTS.labels(door=door).inc()
    return ArchiveStream(kb, include_files=include_files)


def kb_export_archive(
    *, kb: KnowledgeBase, user, out, include_files: bool = True, door: str = "web", request=None
) -> dict:
    """Write the KB's archive into the binary file object `out`; returns the summary (counts, bytes, sha256)."""
    stream = kb_export_stream(kb=kb, user=user, include_files=include_files, door=door, request=request)
    for piece in stream:
        out.write(piece)
    return stream.summary


def _sha256(archive) -> str:
    digest = hashlib.sha256()
    with archive_bytes(archive) as fh:
        while block := fh.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def kb_import_archive(*, workspace, user, archive_path, door: str = "web", request=None) -> KnowledgeBase:
    """A new KB in `workspace` from the archive at `archive_path` (a path, or the seekable file an upload is read
    from: see uploaded_archive). Raises ArchiveError (a 4xx, nothing created)
    for an archive that is damaged, tampered with, of an unknown version, too big, or made with a model this
    installation lacks; PermissionDenied when `user` may not create KBs there (user None: the operator)."""
    archive_sha256 = _sha256(archive_path)
    try:
        report = import_archive(workspace=workspace, user=user, archive_path=archive_path, request=request)
    except ArchiveError as exc:
        audit_record(
            event_type="knowledge_base", action="import", user=user, request=request, workspace=workspace,
            success=False, details={"door": door, "code": exc.code, "archive_sha256": archive_sha256},
        )  # fmt: skip
        raise
    manifest = report.manifest
    audit_record(
        event_type="knowledge_base", action="import", user=user, request=request, workspace=workspace,
        resource=report.kb,
        details={"door": door, **report.counts, "retention_applied": report.retention_applied,
                 "schema_version": manifest["schema_version"], "source_product": manifest.get("product"),
                 "model": manifest["model"], "archive_sha256": archive_sha256},
    )  # fmt: skip
    transaction.on_commit(KB_IMPORTS.labels(door=door).inc)
    return report.kb


@contextmanager
def uploaded_archive(upload) -> Iterator:
    """What kb_import_archive reads an uploaded archive from: the upload's own file (in memory, or spooled
    encrypted by privexbot.uploads), read in place, so its plaintext is never copied to disk. Larger than
    KB_ARCHIVE_MAX_SIZE: 413."""
    if upload.size > settings.KB_ARCHIVE_MAX_SIZE:
        raise ArchiveError("too_large", "The archive is larger than KB_ARCHIVE_MAX_SIZE.", http_status=413)
    upload.open("rb")
    yield upload.file
