"""Writing a KB archive as a stream of bytes: one document at a time, one member at a time, each piece handed
on as soon as the zip writer produced it. Memory holds at most one member piece (a file segment, a batch of
chunk rows or of vectors, or one document's parsed elements, which the pipeline also loads whole), whatever the
size of the KB, and nothing is written to the server's disk: the caller sends the bytes to the user (a download)
or into the file it chose (the command)."""

from __future__ import annotations

import hashlib
import io
import json
import tomllib
import zipfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from functools import cache

import numpy as np
from django.conf import settings

from kb.models import Chunk, Document, DocumentStatus, KnowledgeBase
from kb.pipeline.elements import elements_load
from kb.pipeline.store import VECTOR_COLUMNS, _as_array
from kb.portability.manifest import MANIFEST, ArchiveError, build_manifest, document_dir
from privexbot.storage import get_storage

_PIECE = 1024 * 1024
_CHUNK_FIELDS = (
    "index", "context", "content", "content_hash", "token_count", "word_count", "char_count", "truncated", "metadata",
)  # fmt: skip


@cache
def product() -> dict:
    """Name and version of the software that wrote the archive (pyproject.toml: the checkout is not installed)."""
    try:
        project = tomllib.loads((settings.BASE_DIR / "pyproject.toml").read_text())["project"]
        return {"name": project["name"], "version": project["version"]}
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return {"name": "privexbot-kb", "version": "unknown"}


def kb_model(kb: KnowledgeBase) -> dict:
    config = kb.embedding_config or {}
    return {
        "name": config.get("model") or settings.DEFAULT_EMBEDDING_MODEL,
        "dimensions": config.get("dimensions") or 384,
    }


def kb_settings(kb: KnowledgeBase) -> dict:
    return {
        "name": kb.name,
        "description": kb.description,
        "chunking_config": kb.chunking_config,
        "embedding_config": kb.embedding_config,
        "vector_store_config": kb.vector_store_config,
        "context_settings": kb.context_settings,
        "language": kb.language,
        "retention": {"inherit": kb.retention_inherit, "days": kb.retention_days, "basis": kb.retention_basis},
    }


class _Sink:
    """What the zip writer writes into: bytes waiting to be handed on. No seek, so zipfile streams (data
    descriptors after each member) instead of going back to patch headers."""

    def __init__(self):
        self.buffer = bytearray()
        self.position = 0
        self.digest = hashlib.sha256()

    def write(self, data) -> int:
        self.buffer += data
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        out = bytes(self.buffer)
        self.buffer.clear()
        self.digest.update(out)
        return out


class ArchiveStream:
    """Iterate to get the archive's bytes; `summary` is complete once the iteration ended."""

    def __init__(self, kb: KnowledgeBase, *, include_files: bool):
        self.kb, self.include_files = kb, include_files
        self.summary: dict = {}

    def __iter__(self) -> Iterator[bytes]:
        sink = _Sink()
        self.members: dict[str, dict] = {}
        self.counts = {"documents": 0, "ready_documents": 0, "chunks": 0, "files": 0, "elements": 0}
        directories = []
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            ids = list(self.kb.documents.order_by("created_at", "pk").values_list("pk", flat=True))
            for pk in ids:
                document = Document.objects.filter(pk=pk, kb=self.kb).first()
                if document is None:  # deleted while the export ran: it is not part of the archive
                    continue
                directory = document_dir(len(directories) + 1)
                directories.append(directory)
                yield from self._document(zf, sink, directory, document)
            manifest = build_manifest(
                created_at=datetime.now(UTC).isoformat(), product=product(), kb=kb_settings(self.kb),
                model=kb_model(self.kb), include_files=self.include_files, counts=self.counts,
                documents=directories, members=self.members,
            )  # fmt: skip
            with zf.open(MANIFEST, "w") as out:
                out.write(json.dumps(manifest, indent=1, ensure_ascii=False).encode())
        last = sink.drain()
        self.summary = {
            "kb_id": str(self.kb.pk), **self.counts, "include_files": self.include_files,
            "bytes": sink.position, "sha256": sink.digest.hexdigest(),
        }  # fmt: skip
        yield last

    def _member(self, zf, sink: _Sink, name: str, pieces: Iterable[bytes]) -> Iterator[bytes]:
        digest, size = hashlib.sha256(), 0
        with zf.open(name, "w", force_zip64=True) as out:
            for piece in pieces:
                digest.update(piece)
                size += len(piece)
                out.write(piece)
                if len(sink.buffer) >= _PIECE:
                    yield sink.drain()
        self.members[name] = {"sha256": digest.hexdigest(), "bytes": size}
        if sink.buffer:
            yield sink.drain()

    def _document(self, zf, sink: _Sink, directory: str, document: Document) -> Iterator[bytes]:
        storage = get_storage()
        files = {}
        if self.include_files and document.stored_file and storage.exists(document.stored_file):
            files["original"] = f"original.{document.file_type or 'bin'}"
            yield from self._member(
                zf, sink, f"{directory}/{files['original']}", storage.iter_plaintext(document.stored_file)
            )
            self.counts["files"] += 1
        if document.elements_file and storage.exists(document.elements_file):
            files["elements"] = "elements.json"
            elements = json.dumps(elements_load(document.elements_file), ensure_ascii=False).encode()
            yield from self._member(zf, sink, f"{directory}/elements.json", [elements])
            del elements
            self.counts["elements"] += 1
        chunks = 0
        if document.status == DocumentStatus.READY:
            # the serving index generation only: a rebuild's unfinished one is not the KB's index
            serving = Chunk.objects.filter(document=document, generation=self.kb.generation)
            rows = serving.filter(version=document.version).order_by("index")
            counter = [0]
            yield from self._member(zf, sink, f"{directory}/chunks.jsonl", _chunk_lines(rows, counter))
            chunks = counter[0]
            files["chunks"], files["embeddings"] = "chunks.jsonl", "embeddings.npy"
            dims = kb_model(self.kb)["dimensions"]
            if dims not in VECTOR_COLUMNS:
                raise ArchiveError("unsupported_dimensions", f"Vectors of {dims} dimensions cannot be exported.")
            vectors = _vectors_npy(rows, VECTOR_COLUMNS[dims], chunks, dims, document)
            yield from self._member(zf, sink, f"{directory}/embeddings.npy", vectors)
            self.counts["ready_documents"] += 1
            self.counts["chunks"] += chunks
        record = {
            "name": document.name, "source_type": document.source_type, "url": document.url,
            "file_type": document.file_type, "metadata": document.metadata, "content_hash": document.content_hash,
            "size_bytes": document.size_bytes, "config_hash": document.config_hash, "version": document.version,
            "status": document.status, "chunk_count": chunks, "token_count": document.token_count,
            "created_at": document.created_at.isoformat(), "files": files,
        }  # fmt: skip
        yield from self._member(
            zf, sink, f"{directory}/document.json", [json.dumps(record, ensure_ascii=False).encode()]
        )
        self.counts["documents"] += 1


def _chunk_lines(rows, counter: list[int]) -> Iterator[bytes]:
    batch = []
    for row in rows.values(*_CHUNK_FIELDS).iterator(chunk_size=500):
        batch.append(json.dumps(row, ensure_ascii=False))
        counter[0] += 1
        if len(batch) >= 200:
            yield ("\n".join(batch) + "\n").encode()
            batch = []
    if batch:
        yield ("\n".join(batch) + "\n").encode()


def _vectors_npy(rows, column: str, count: int, dims: int, document: Document) -> Iterator[bytes]:
    """A .npy file written row by row: the header says [count, dims] up front, the rows follow in index order."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (count, dims)})
    yield header.getvalue()
    written = 0
    batch: list[np.ndarray] = []
    for value in rows.values_list(column, flat=True).iterator(chunk_size=500):
        if value is None:
            raise ArchiveError("incomplete", f"“{document.name}” has chunks without embeddings; reindex it first.")
        batch.append(_as_array(value))
        written += 1
        if len(batch) >= 1000:
            yield np.stack(batch).astype("<f4").tobytes()
            batch = []
    if batch:
        yield np.stack(batch).astype("<f4").tobytes()
    if written != count:  # reprocessed between the two passes: its chunks are another version now
        raise ArchiveError("changed", f"“{document.name}” changed while it was exported; export again.")
