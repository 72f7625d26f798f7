"""The archive's table of contents: its schema version, the member layout, and the checks an import runs on
everything the archive says before it believes any of it (an archive is user input from anywhere).

Layout of a KB archive (a zip):
    manifest.json                          this file's shape (`build_manifest`), written last
    documents/<n>/document.json            the document's metadata (name, source type, url, hashes, version, ...)
    documents/<n>/original.<type>          its original file, decrypted (only with include_files)
    documents/<n>/elements.json            its parsed elements (kb.pipeline.elements), decrypted
    documents/<n>/chunks.jsonl             one chunk per line: index, content, hashes, counts, metadata
    documents/<n>/embeddings.npy           float32 [chunks x dimensions], row i = line i of chunks.jsonl
The manifest lists every other member with its size and sha256; a member it does not list, or one whose
bytes differ, makes the archive invalid.
"""

from __future__ import annotations

import re
from typing import Any

from privexbot.errors import ServiceError

FORMAT = "privexbot-kb-archive"
# 2: chunks carry their context line, and content_hash is of the embedded text (context line + content); a
# version-1 archive has no context line, so its content_hash is of the content, which is then the embedded text.
SCHEMA_VERSION = 2
KNOWN_SCHEMA_VERSIONS = frozenset({1, 2})
MANIFEST = "manifest.json"
MANIFEST_MAX_BYTES = 64 * 1024 * 1024  # ~100 bytes per member: far beyond any real KB's table of contents
DOCUMENT_JSON_MAX_BYTES = 4 * 1024 * 1024

DOCUMENT_MEMBERS = ("document.json", "elements.json", "chunks.jsonl", "embeddings.npy")  # + original.<type>
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DOCUMENT_DIR = re.compile(r"^documents/[0-9]{6}$")
_MEMBER = re.compile(
    r"^documents/[0-9]{6}/(document\.json|elements\.json|chunks\.jsonl|embeddings\.npy|original\.[a-z]{1,8})$"
)


class ArchiveError(ServiceError):
    """A KB archive that cannot be imported (damaged, tampered, unknown version, too big, a bomb, a model this
    installation lacks): nothing was created. Shown as {"archive": [message]}."""

    def __init__(self, code: str, message: str, *, http_status: int = 400):
        super().__init__(code, message, details={"archive": [message]}, http_status=http_status)


def document_dir(n: int) -> str:
    return f"documents/{n:06d}"


def _fail(message: str) -> ArchiveError:
    return ArchiveError("invalid_archive", f"This is not a valid knowledge-base archive: {message}.")


def _typed(data: dict, key: str, kind, where: str):
    value = data.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _fail(f"{where}.{key} is missing or has the wrong type")
    return value


def validate_manifest(data: Any) -> dict:
    """The manifest, checked for shape and version; raises ArchiveError. Config values are validated again by
    kb.configs when the KB is created, so here only what the importer itself relies on is checked."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _fail("manifest.json does not describe a PrivexBot knowledge-base archive")
    version = data.get("schema_version")
    if version not in KNOWN_SCHEMA_VERSIONS or isinstance(version, bool):
        known = ", ".join(str(v) for v in sorted(KNOWN_SCHEMA_VERSIONS))
        raise ArchiveError(
            "unsupported_schema_version",
            f"This archive has schema version {version!r}; this installation reads version {known}. "
            "Upgrade PrivexBot KB (or export again from an installation of the same version).",
        )
    kb = _typed(data, "knowledge_base", dict, "manifest")
    _typed(kb, "name", str, "knowledge_base")
    for key in ("chunking_config", "embedding_config", "vector_store_config", "context_settings", "retention"):
        _typed(kb, key, dict, "knowledge_base")
    _typed(kb, "language", str, "knowledge_base")
    model = _typed(data, "model", dict, "manifest")
    _typed(model, "name", str, "model")
    _typed(model, "dimensions", int, "model")
    documents = _typed(data, "documents", list, "manifest")
    members = _typed(data, "members", dict, "manifest")
    if len(set(documents)) != len(documents) or not all(
        isinstance(d, str) and _DOCUMENT_DIR.match(d) for d in documents
    ):
        raise _fail("the document list is malformed")
    for name, entry in members.items():
        if not _MEMBER.match(name) or name.rsplit("/", 1)[0] not in documents:
            raise _fail(f"unexpected member {name!r}")
        if not isinstance(entry, dict) or not _SHA256.match(str(entry.get("sha256", ""))):
            raise _fail(f"member {name!r} has no sha256")
        size = entry.get("bytes")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise _fail(f"member {name!r} has no size")
    for d in documents:
        if f"{d}/document.json" not in members:
            raise _fail(f"{d} has no document.json")
    return data


def build_manifest(*, created_at: str, product: dict, kb: dict, model: dict, include_files: bool, counts: dict,
                   documents: list[str], members: dict) -> dict:  # fmt: skip
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "created_at": created_at,
        "product": product,
        "knowledge_base": kb,
        "model": model,
        "include_files": include_files,
        "counts": counts,
        "documents": documents,
        "members": members,
    }
