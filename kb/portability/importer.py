"""Importing a KB archive: check everything first (container, manifest, every member's hash, the model), then in
one transaction create the KB with new ids, its documents with their files and elements encrypted into this
installation's storage, and their chunks with the archive's embeddings and a full-text vector computed by the
pipeline's own store step — so the documents are `ready` without a worker and no vector is computed again.

The archive's model must be installed here with the same dimensions, or the import is refused: its vectors are
only meaningful next to query vectors of that model, and re-embedding under another one would change the KB's
model behind the user's back. Documents that were not ready in the source (failed, or still processing) arrive
queued and are processed here from their kept elements or original file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction

from kb import states
from kb.configs import model_dimensions
from kb.models import Document, DocumentStatus, DuplicatePolicy, KnowledgeBase, SourceType
from kb.pipeline.elements import elements_save
from kb.pipeline.filecheck import EXTENSION_TYPES, check_file
from kb.pipeline.store import VECTOR_COLUMNS, cache_store, replace_chunks, text_hash
from kb.pipeline.types import ChunkData, PipelineError
from kb.portability.archive import member, open_archive, read_json, read_manifest, verify_members
from kb.portability.manifest import DOCUMENT_JSON_MAX_BYTES, ArchiveError
from kb.services import documents_add, kb_create
from privexbot import sandbox
from privexbot.storage import get_storage
from tenants.models import Perm
from tenants.retention import check_retention_basis, check_retention_days
from tenants.selectors import user_workspace_perms
from tenants.tokens import require_unlimited_key

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_FILE_KEYS = {"original", "elements", "chunks", "embeddings"}
_PATH_CHUNK = 1024 * 1024
_CONTEXT_MAX_CHARS = 4000  # a context line is capped at 64 tokens when made; this only refuses abuse


def _bad(where: str, message: str) -> ArchiveError:
    return ArchiveError("invalid_archive", f"This is not a valid knowledge-base archive: {where} {message}.")


@dataclass
class ImportReport:
    kb: KnowledgeBase | None = None
    counts: dict = field(
        default_factory=lambda: {
            "documents": 0,
            "ready_documents": 0,
            "queued_documents": 0,
            "skipped_documents": 0,
            "chunks": 0,
            "files": 0,
            "elements": 0,
        }  # fmt: skip
    )
    retention_applied: bool = False
    manifest: dict = field(default_factory=dict)
    stored: list[str] = field(default_factory=list)  # files written so far: removed if the import fails


def check_model(manifest: dict) -> None:
    """The archive's model (name + dimensions) must be the KB config's and be installed here with those dims."""
    model, config = manifest["model"], manifest["knowledge_base"]["embedding_config"]
    if config.get("model", settings.DEFAULT_EMBEDDING_MODEL) != model["name"] or config.get("dimensions") not in (
        None, model["dimensions"]
    ):  # fmt: skip
        raise _bad("manifest.json", "names a model that its KB settings do not use")
    try:
        here = model_dimensions(model["name"])
    except PipelineError as exc:
        raise ArchiveError(
            "model_unavailable",
            f"The archive's embedding model “{model['name']}” is not installed on this installation, so its "
            f"vectors cannot be used. Install the model, then import again. ({exc.message})",
        ) from None
    if here != model["dimensions"] or model["dimensions"] not in VECTOR_COLUMNS:
        raise ArchiveError(
            "model_mismatch",
            f"The archive's vectors have {model['dimensions']} dimensions but “{model['name']}” here produces {here}: "
            "they come from a different model and cannot be searched with this one.",
        )


def _document_record(zf, manifest: dict, directory: str) -> dict:
    name = f"{directory}/document.json"
    if manifest["members"][name]["bytes"] > DOCUMENT_JSON_MAX_BYTES:
        raise ArchiveError("zip_bomb", f"The archive entry {name!r} is too large.")
    r = read_json(zf, manifest, name)
    if not isinstance(r, dict):
        raise _bad(name, "is not an object")
    checks = {
        "name": lambda v: isinstance(v, str) and v.strip() != "" and len(v) <= 500,
        "source_type": lambda v: v in SourceType.values,
        "url": lambda v: isinstance(v, str) and len(v) <= 2000 and (not v or v.startswith(("http://", "https://"))),
        "file_type": lambda v: isinstance(v, str) and (v == "" or v in EXTENSION_TYPES.values()),
        "metadata": lambda v: isinstance(v, dict),
        "content_hash": lambda v: isinstance(v, str) and (v == "" or bool(_SHA256.match(v))),
        "size_bytes": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "config_hash": lambda v: isinstance(v, str) and len(v) <= 64,
        "version": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "status": lambda v: v in DocumentStatus.values,
        "files": lambda v: isinstance(v, dict) and set(v) <= _FILE_KEYS and all(isinstance(x, str) for x in v.values()),
    }
    for key, ok in checks.items():
        if not ok(r.get(key)):
            raise _bad(name, f"has an invalid {key}")
    for value in r["files"].values():
        if f"{directory}/{value}" not in manifest["members"]:
            raise _bad(name, f"names {value!r}, which the archive does not hold")
    if ("chunks" in r["files"]) != ("embeddings" in r["files"]):
        raise _bad(name, "has chunks without embeddings (or the reverse)")
    return r


def _store_original(zf, manifest: dict, directory: str, r: dict, report: ImportReport) -> str:
    """The original checked like an upload (size, type by magic bytes, archive safety), then stored encrypted."""
    name = f"{directory}/{r['files']['original']}"
    if manifest["members"][name]["bytes"] > settings.MAX_FILE_SIZE:
        raise ArchiveError(
            "too_large", f"{r['name']!r} is larger than this installation's MAX_FILE_SIZE.", http_status=413
        )
    with sandbox.scratch("pxb-import-") as tmp:  # 0700, this process's own; swept if it dies
        path = tmp / f"source.{r['file_type'] or 'bin'}"
        with member(zf, manifest, name) as src, open(path, "wb") as out:
            while block := src.read(_PATH_CHUNK):
                out.write(block)
        if r["source_type"] == SourceType.FILE_UPLOAD:
            allowed, filename = settings.ALLOWED_FILE_TYPES, r["metadata"].get("original_filename") or r["name"]
        else:  # pasted text or a crawled page: its type is ours, as in kb.pipeline.runner.load_elements
            allowed, filename = [r["file_type"] or "txt"], path.name
        try:
            check_file(filename=str(filename), path=str(path), allowed_types=allowed, max_size=settings.MAX_FILE_SIZE)
        except PipelineError as exc:
            raise ArchiveError(exc.code, f"{r['name']!r} in the archive was refused: {exc.message}") from None
        with open(path, "rb") as fh:
            stored = get_storage().save(fh)
    report.stored.append(stored)
    return stored


def _store_elements(zf, manifest: dict, directory: str, r: dict, report: ImportReport) -> str:
    name = f"{directory}/{r['files']['elements']}"
    elements = read_json(zf, manifest, name)
    if not isinstance(elements, list) or not all(
        isinstance(e, dict) and isinstance(e.get("text"), str) for e in elements
    ):
        raise _bad(name, "is not a list of elements")
    stored = elements_save(elements)
    report.stored.append(stored)
    return stored


def _chunks(zf, manifest: dict, directory: str, r: dict, dims: int) -> tuple[list[ChunkData], np.ndarray]:
    name = f"{directory}/{r['files']['chunks']}"
    chunks: list[ChunkData] = []
    with member(zf, manifest, name) as fh:
        text = fh.read()
    try:
        lines = text.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise _bad(name, "is not UTF-8") from None
    for n, line in enumerate(lines):
        try:
            row = json.loads(line)
            chunk = ChunkData(
                index=row["index"], content=row["content"], token_count=row["token_count"],
                word_count=row["word_count"], char_count=row["char_count"], truncated=row["truncated"],
                metadata=row["metadata"], context=row.get("context", ""),  # none in a version-1 archive
            )  # fmt: skip
        except (ValueError, KeyError, TypeError):
            raise _bad(name, f"line {n + 1} is not a chunk") from None
        ints = (chunk.index, chunk.token_count, chunk.word_count, chunk.char_count)
        if not (all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ints)
                and isinstance(chunk.content, str) and chunk.content and isinstance(chunk.truncated, bool)
                and isinstance(chunk.metadata, dict) and isinstance(chunk.context, str)
                and len(chunk.context) <= _CONTEXT_MAX_CHARS):  # fmt: skip
            raise _bad(name, f"line {n + 1} has a field of the wrong type")
        if row.get("content_hash") != text_hash(chunk.embedding_text):
            raise ArchiveError("tampered", f"A chunk of {r['name']!r} does not match its content_hash.")
        chunks.append(chunk)
    if len({c.index for c in chunks}) != len(chunks):
        raise _bad(name, "repeats a chunk index")
    return chunks, _vectors(zf, manifest, f"{directory}/{r['files']['embeddings']}", len(chunks), dims)


def _vectors(zf, manifest: dict, name: str, count: int, dims: int) -> np.ndarray:
    with member(zf, manifest, name) as fh:
        try:
            major, minor = np.lib.format.read_magic(fh)
            if (major, minor) != (1, 0):
                raise ValueError("npy version")
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        except ValueError:
            raise _bad(name, "is not a .npy array") from None
        if shape != (count, dims) or fortran or dtype != np.dtype("<f4"):
            raise _bad(name, f"holds {shape} {dtype} vectors, not {count} x {dims} float32")
        data = fh.read(count * dims * 4)
        if len(data) != count * dims * 4 or fh.read(1):
            raise _bad(name, "has the wrong length")
    vectors = np.frombuffer(data, dtype="<f4").reshape(count, dims).astype(np.float32)
    if not np.isfinite(vectors).all():
        raise _bad(name, "holds values that are not numbers")
    return vectors


def _text_search_config_exists(language: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_ts_config WHERE cfgname = %s", [language])
        return cursor.fetchone() is not None


def _create_kb(*, workspace, user, manifest: dict, request, report: ImportReport) -> KnowledgeBase:
    s = manifest["knowledge_base"]
    if not _text_search_config_exists(s["language"]):
        raise ArchiveError("invalid_settings", f"The archive's text-search language {s['language']!r} is unknown here.")
    try:
        kb = kb_create(
            workspace=workspace, user=user, name=s["name"], description=s.get("description") or "",
            chunking_config=s["chunking_config"], embedding_config=s["embedding_config"],
            vector_store_config=s["vector_store_config"], context_settings=s["context_settings"], request=request,
        )  # fmt: skip
    except ValidationError as exc:
        messages = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        raise ArchiveError("invalid_settings", f"The archive's KB settings are not valid here: {messages}") from None
    fields = {"language": s["language"]}
    # Retention deletes documents on a schedule: only who may set a policy (owners, admins, the operator at the
    # command line) brings the archive's along; anyone else gets the workspace's policy, and the report says so.
    if user is None or Perm.WORKSPACE_MANAGE in user_workspace_perms(user=user, workspace=workspace):
        retention = s["retention"]
        try:
            fields.update(
                retention_inherit=bool(retention.get("inherit", True)),
                retention_days=check_retention_days(retention.get("days")),
                retention_basis=check_retention_basis(retention.get("basis", "uploaded")),
            )
        except ValidationError:
            raise ArchiveError("invalid_settings", "The archive's retention settings are not valid here.") from None
        report.retention_applied = True
    KnowledgeBase.objects.filter(pk=kb.pk).update(**fields)
    for name, value in fields.items():
        setattr(kb, name, value)
    return kb


_CHAIN = (DocumentStatus.PARSING, DocumentStatus.CHUNKING, DocumentStatus.EMBEDDING, DocumentStatus.INDEXING)


def _make_ready(document: Document, *, chunks: list[ChunkData]) -> None:
    """queued -> ... -> ready through the state machine, in the caller's transaction (nobody sees the steps)."""
    previous = DocumentStatus.QUEUED
    for status in _CHAIN:
        if not states.move(document.pk, status, only_from=[previous]):
            raise RuntimeError(f"imported document {document.pk} left the state machine at {previous}")
        previous = status
    moved = states.move(
        document.pk, DocumentStatus.READY, only_from=[DocumentStatus.INDEXING], progress=100,
        stats={"imported": True, "chunks": len(chunks), "truncated_chunks": sum(c.truncated for c in chunks),
               "embedded": 0},
    )  # fmt: skip
    if not moved:
        raise RuntimeError(f"imported document {document.pk} did not reach ready")


def _import_document(zf, manifest: dict, kb: KnowledgeBase, directory: str, r: dict, report: ImportReport):
    files = r["files"]
    has_chunks = r["status"] == DocumentStatus.READY and "chunks" in files
    if not has_chunks and not ({"original", "elements"} & set(files)):
        report.counts["skipped_documents"] += 1  # not indexed in the source and nothing here to process it from
        return
    document = Document(
        kb=kb, source_type=r["source_type"], name=r["name"], url=r["url"], file_type=r["file_type"],
        metadata=r["metadata"], size_bytes=r["size_bytes"], content_hash=r["content_hash"],
        config_hash=r["config_hash"],
    )  # fmt: skip
    if "original" in files:
        document.stored_file = _store_original(zf, manifest, directory, r, report)
        report.counts["files"] += 1
    if "elements" in files:
        document.elements_file = _store_elements(zf, manifest, directory, r, report)
        report.counts["elements"] += 1
    report.counts["documents"] += 1
    if not has_chunks:
        # queued, processed here after commit; the archive's documents come back as they were (no version rule)
        documents_add(kb=kb, documents=[document], policy=DuplicatePolicy.KEEP_BOTH)
        report.counts["queued_documents"] += 1
        return
    chunks, vectors = _chunks(zf, manifest, directory, r, manifest["model"]["dimensions"])
    document.version = max(1, r["version"])
    document.chunk_count = len(chunks)
    document.token_count = sum(c.token_count for c in chunks)
    document.save(force_insert=True)  # a new row starts queued (the model's default), as documents_add wants
    replace_chunks(
        document_id=document.pk, kb_id=kb.pk, language=kb.language, version=document.version, chunks=chunks,
        vectors=vectors,
    )  # fmt: skip
    # The organization's embedding cache gets the vectors, as if this installation had computed them: a later
    # reindex with another chunking reuses them for unchanged text, and kb.deletion clears them with the KB.
    unique = {text_hash(c.embedding_text): vectors[i] for i, c in enumerate(chunks)}
    cache_store(kb.workspace.organization_id, manifest["model"]["name"], list(unique.items()))
    _make_ready(document, chunks=chunks)
    report.counts["ready_documents"] += 1
    report.counts["chunks"] += len(chunks)


def import_archive(*, workspace, user, archive_path, request=None) -> ImportReport:
    """Check the archive whole, then create the KB in `workspace`; raises ArchiveError (nothing created)."""
    if user is not None:
        require_unlimited_key(user, doing="create knowledge bases")  # a new KB would be outside its list
        if Perm.KB_CREATE not in user_workspace_perms(user=user, workspace=workspace):
            raise PermissionDenied("your role in this workspace does not allow kb:create")
    report = ImportReport()
    with open_archive(archive_path) as zf:
        manifest = read_manifest(zf)
        verify_members(zf, manifest)
        check_model(manifest)
        if len(manifest["documents"]) > settings.KB_ARCHIVE_MAX_DOCUMENTS:
            raise ArchiveError(
                "too_many_documents", f"The archive holds more than {settings.KB_ARCHIVE_MAX_DOCUMENTS} documents."
            )
        records = [(d, _document_record(zf, manifest, d)) for d in manifest["documents"]]
        try:
            with transaction.atomic():
                kb = _create_kb(workspace=workspace, user=user, manifest=manifest, request=request, report=report)
                for directory, record in records:
                    _import_document(zf, manifest, kb, directory, record, report)
        except BaseException:
            storage = get_storage()
            for name in report.stored:  # the rows rolled back; the encrypted files they named go too
                storage.delete(name)
            raise
    report.kb = kb
    report.manifest = manifest
    return report
