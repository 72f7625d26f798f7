"""Secure deletion: the one service every door (UI, API, admin, commands) and retention deletes through.

What goes, for a KB or some of its documents: the rows (documents; chunks with their vectors and full-text
vectors), the stored files (originals and parsed elements, crypto-shredded by privexbot.storage: the per-file
key is destroyed, then the blob), what higher layers derived from the KB (the drafts that add sources to it and
their files: `kb_deleting` below, answered by drafts.deletion), the organization's embedding-cache entries no
remaining chunk uses, cached query vectors in Redis, object grants, and temporary directories a crashed run left.

Work already running stops without writing back: the documents' rows are locked first, and every derived write
of a worker (elements, embedding cache, chunks) checks ownership under a lock on the same row
(kb.pipeline.runner.still_owned) — it either committed before this service looked, or finds the row gone.

Each deletion writes a signed receipt (privexbot.models.DeletionReceipt): ids, counts per store and sha256 of
each deleted file's plaintext and each chunk's content, never content or names. `manage.py verify_deletion`
re-scans every store for them.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.dispatch import Signal
from django.utils import timezone

from kb.legal_hold import legal_hold_refuse_deletion
from kb.models import UNFINISHED, Chunk, Document, EmbeddingCache, KnowledgeBase
from privexbot import sandbox
from privexbot.audit import audit_record
from privexbot.models import DeletionReceipt
from privexbot.receipts import receipt_sign
from privexbot.storage import StorageError, get_storage

# Sent inside the deletion's transaction, before the KB's rows go: kwargs kb. A receiver deletes what its layer
# derived from the KB and returns DerivedCopies (the files to shred after commit, the rows it removed).
kb_deleting = Signal()

PARSE_TEMP_PREFIX = "pxb-parse-"  # kb.pipeline.runner names its private directories pxb-parse-<document id>-


@dataclass
class DerivedCopies:
    store: str  # a name for the receipt's counts, e.g. "draft_sources"
    rows: int = 0
    files: list[str] = field(default_factory=list)
    extra_counts: dict[str, int] = field(default_factory=dict)


@dataclass
class _Plan:
    files: dict[str, str] = field(default_factory=dict)  # stored name -> kind
    counts: dict[str, int] = field(default_factory=dict)
    file_hashes: set[str] = field(default_factory=set)
    chunk_hashes: set[str] = field(default_factory=set)
    temp_dirs: list[Path] = field(default_factory=list)

    def add_files(self, names, kind: str) -> None:
        for name in names:
            if name:
                self.files.setdefault(name, kind)


def _plaintext_sha256(storage, name: str) -> str | None:
    """Streamed, one segment at a time; None when the file is missing or unreadable (counted, not fatal:
    a deletion must not be blocked by a file that is already gone)."""
    digest = hashlib.sha256()
    try:
        for block in storage.iter_plaintext(name):
            digest.update(block)
    except (FileNotFoundError, StorageError, OSError):
        return None
    return digest.hexdigest()


def _collect_documents(plan: _Plan, documents: list[Document]) -> None:
    ids = [d.pk for d in documents]
    chunks = Chunk.objects.filter(document_id__in=ids)
    plan.counts["documents"] = len(ids)
    plan.counts["chunks"] = chunks.count()
    plan.counts["vectors"] = chunks.filter(Q(embedding__isnull=False) | Q(embedding_768__isnull=False)).count()
    plan.counts["full_text_vectors"] = chunks.filter(search_vector__isnull=False).count()
    plan.chunk_hashes.update(chunks.values_list("content_hash", flat=True).distinct())
    for document in documents:
        plan.add_files([document.stored_file], "original")
        plan.add_files([document.elements_file], "elements")
    # In any process's private directory (privexbot.sandbox), or directly in the temp dir (older versions).
    plan.temp_dirs = [p for pk in ids for p in sandbox.find(f"{PARSE_TEMP_PREFIX}{pk}-*")]


def _hash_files(plan: _Plan) -> None:
    storage = get_storage()
    missing = 0
    for name in plan.files:
        sha = _plaintext_sha256(storage, name)
        if sha is None:
            missing += 1
        else:
            plan.file_hashes.add(sha)
    plan.counts["files"] = len(plan.files)
    plan.counts["files_missing_before_deletion"] = missing


def _embedding_cache_prune(*, organization_id, hashes: set[str], since) -> int:
    """The organization's cache entries that no remaining chunk of the organization uses, among the deleted
    chunks' texts and (when documents were still being processed) everything cached since the earliest of
    those runs started: their batches were cached before any chunk existed to name them."""
    used = Chunk.objects.filter(kb__workspace__organization_id=organization_id, content_hash=OuterRef("text_hash"))
    scope = Q(text_hash__in=list(hashes))
    if since is not None:
        scope |= Q(created_at__gte=since)
    entries = EmbeddingCache.objects.filter(scope, organization_id=organization_id).exclude(Exists(used))
    deleted, _ = entries.delete()
    return deleted


def _unfinished_since(documents: list[Document]):
    """When the earliest run still on one of the documents started (claim writes stage_times["started"])."""
    from datetime import datetime

    starts = []
    for document in documents:
        if document.status in UNFINISHED:
            started = (document.stage_times or {}).get("started")
            starts.append(datetime.fromisoformat(started) if started else document.created_at)
    return min(starts) if starts else None


def _query_embeddings_drop(kb_id) -> int:
    """Cached query vectors and cached search results of the KB (kb.search.query_embedding and kb.search.cache
    key them by KB). Caches: an outage is logged by the caller's after-commit step, never fatal."""
    from kb.search import cache as result_cache
    from kb.search import query_embedding
    from privexbot.redis import get_client

    client = get_client()
    keys = [
        key
        for pattern in (query_embedding.scope_pattern(kb_id), result_cache.scope_pattern(kb_id))
        for key in client.scan_iter(match=pattern, count=1000)
    ]
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    return len(keys)


def _after_commit(*, files: list[str], kb_id, temp_dirs: list[Path]) -> None:
    import logging

    log = logging.getLogger(__name__)
    storage = get_storage()
    for name in files:
        try:
            storage.delete(name)
        except (OSError, StorageError):  # one failure must not keep the other files; verify_deletion names it
            log.exception("could not shred a stored file of a deletion")
    if files and settings.STORAGE_BACKEND == "database" and settings.DELETION_VACUUM_BLOBS:
        from privexbot.storage.database import vacuum_blobs

        vacuum_blobs()
    try:
        _query_embeddings_drop(kb_id)  # again: a search that was running when the first pass ran
    except Exception:
        log.warning("could not drop cached query embeddings of a deleted KB", exc_info=True)
    for path in temp_dirs:
        shutil.rmtree(path, ignore_errors=True)


def _receipt(*, plan: _Plan, scope: str, reason: str, user, kb: KnowledgeBase, document_ids, kb_deleted: bool):
    body = {
        "version": 1,
        "id": str(uuid.uuid4()),
        "created_at": timezone.now().isoformat(),
        "scope": scope,
        "reason": reason,
        "actor_user_id": getattr(user, "pk", None),
        "organization_id": str(kb.workspace.organization_id),
        "workspace_id": str(kb.workspace_id),
        "knowledge_base_id": str(kb.pk),
        "knowledge_base_deleted": kb_deleted,
        "document_ids": sorted(str(pk) for pk in document_ids),
        "stored_files": sorted(plan.files),
        "counts": dict(sorted(plan.counts.items())),
        "hashes": {"files_sha256": sorted(plan.file_hashes), "chunks_sha256": sorted(plan.chunk_hashes)},
    }
    return DeletionReceipt.objects.create(
        id=body["id"], created_at=body["created_at"], organization_id=body["organization_id"],
        workspace_id=body["workspace_id"], scope=scope, reason=reason, body=body, signature=receipt_sign(body),
    )  # fmt: skip


def _finish(*, plan: _Plan, kb: KnowledgeBase, documents: list[Document]) -> None:
    """After the rows went (same transaction): the embedding cache, Redis, and the after-commit step."""
    plan.counts["embedding_cache_entries"] = _embedding_cache_prune(
        organization_id=kb.workspace.organization_id, hashes=plan.chunk_hashes, since=_unfinished_since(documents)
    )
    try:
        plan.counts["query_embeddings"] = _query_embeddings_drop(kb.pk)
    except Exception:  # Redis down: the keys expire (EMBEDDING_CACHE_TTL); after commit it is tried again
        plan.counts["query_embeddings"] = -1
    plan.counts["temp_dirs"] = len(plan.temp_dirs)
    files, kb_id, temp_dirs = list(plan.files), kb.pk, list(plan.temp_dirs)
    transaction.on_commit(lambda: _after_commit(files=files, kb_id=kb_id, temp_dirs=temp_dirs))


@transaction.atomic
def delete_kb(*, kb: KnowledgeBase, user, request=None, reason: str = "user") -> DeletionReceipt:
    """Delete the KB and everything derived from it; returns the signed receipt."""
    from django.contrib.contenttypes.models import ContentType
    from guardian.models import GroupObjectPermission, UserObjectPermission

    legal_hold_refuse_deletion(kb_id=kb.pk, what="it")  # first: a held KB loses nothing
    KnowledgeBase.objects.select_for_update().filter(pk=kb.pk).first()
    documents = list(Document.objects.select_for_update().filter(kb=kb).order_by("pk"))  # running work waits
    plan = _Plan()
    _collect_documents(plan, documents)
    for _, answer in kb_deleting.send(sender=KnowledgeBase, kb=kb):
        if isinstance(answer, DerivedCopies):
            plan.add_files(answer.files, answer.store)
            plan.counts[answer.store] = plan.counts.get(answer.store, 0) + answer.rows
            for name, count in answer.extra_counts.items():
                plan.counts[name] = plan.counts.get(name, 0) + count
    _hash_files(plan)
    content_type = ContentType.objects.get_for_model(KnowledgeBase)
    grants = 0
    for model in (UserObjectPermission, GroupObjectPermission):
        grants += model.objects.filter(content_type=content_type, object_pk=str(kb.pk)).delete()[0]
    plan.counts["object_grants"] = grants
    kb_id, name = kb.pk, kb.name
    kb.delete()  # cascades: documents, chunks (vectors, tsvectors), anything left pointing at it
    kb.pk = kb_id  # delete() clears it; the receipt and after-commit step still need it
    _finish(plan=plan, kb=kb, documents=documents)
    receipt = _receipt(
        plan=plan, scope="knowledge_base", reason=reason, user=user, kb=kb,
        document_ids=[d.pk for d in documents], kb_deleted=True,
    )  # fmt: skip
    audit_record(
        event_type="knowledge_base", action="delete", user=user, request=request, workspace=kb.workspace,
        resource=kb, details={"name": name, "documents": len(documents), "files_deleted": len(plan.files),
                              "receipt_id": str(receipt.pk), "reason": reason},
    )  # fmt: skip
    return receipt


@transaction.atomic
def delete_documents(*, documents, user, request=None, reason: str = "user") -> DeletionReceipt:
    """Delete documents of one KB and everything derived from them; returns the signed receipt."""
    ids = [d.pk for d in documents]
    kb_ids = set(Document.objects.filter(pk__in=ids).values_list("kb_id", flat=True))
    if len(kb_ids) != 1:
        raise ValueError("delete_documents takes documents of one knowledge base (that still exist)")
    (kb_id,) = kb_ids
    legal_hold_refuse_deletion(kb_id=kb_id, what="its documents")  # first: a held KB loses nothing
    locked = list(Document.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    kb = KnowledgeBase.objects.select_related("workspace").get(pk=kb_id)
    plan = _Plan()
    _collect_documents(plan, locked)
    _hash_files(plan)
    Document.objects.filter(pk__in=ids).delete()  # cascades to the chunks
    _finish(plan=plan, kb=kb, documents=locked)
    receipt = _receipt(
        plan=plan, scope="documents", reason=reason, user=user, kb=kb, document_ids=ids, kb_deleted=False
    )
    for document in locked:
        audit_record(
            event_type="document", action="delete", user=user, request=request, workspace=kb.workspace,
            resource=document, details={"kb_id": str(kb.pk), "name": document.name, "receipt_id": str(receipt.pk),
                                        "reason": reason},
        )  # fmt: skip
    return receipt
