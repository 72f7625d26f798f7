"""What a backup must bring back, in figures that can be compared without reading any content: row counts,
the sha256 of every stored file as stored (ciphertext), and a digest over every chunk's id, version and
content hash."""

from __future__ import annotations

import hashlib

from django.apps import apps
from django.db import connection

from privexbot.storage import get_storage

COUNTED = [
    "tenants.Organization",
    "tenants.Workspace",
    "kb.KnowledgeBase",
    "kb.Document",
    "kb.Chunk",
    "drafts.KBDraft",
    "drafts.DraftSource",
    "privexbot.AuditEvent",
    "privexbot.StoredBlob",
]


def inventory() -> dict:
    counts = {label: apps.get_model(label).objects.count() for label in COUNTED}
    storage = get_storage()
    files = {}
    for name in storage.stored_files():
        digest = hashlib.sha256()
        with storage.blobs.reader(name) as fh:
            while block := fh.read(1024 * 1024):
                digest.update(block)
        files[name] = digest.hexdigest()
    chunks = hashlib.sha256()
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, version, content_hash FROM kb_chunk ORDER BY id")
        for row in cursor:
            chunks.update(repr(row).encode())
    return {"counts": counts, "files": files, "chunks_sha256": chunks.hexdigest()}


def differences(expected: dict, found: dict) -> list[str]:
    """Human-readable differences between two inventories (empty when they agree)."""
    problems = []
    for label, count in expected["counts"].items():
        if found["counts"].get(label) != count:
            problems.append(f"{label}: {found['counts'].get(label)} rows, the backup had {count}")
    missing = set(expected["files"]) - set(found["files"])
    changed = [n for n in set(expected["files"]) & set(found["files"]) if expected["files"][n] != found["files"][n]]
    if missing:
        problems.append(f"{len(missing)} stored files missing")
    if changed:
        problems.append(f"{len(changed)} stored files differ from their checksum")
    if expected["chunks_sha256"] != found["chunks_sha256"]:
        problems.append("chunks differ from the backup")
    return problems
