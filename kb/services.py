"""Writes for knowledge bases and documents. Views, the API, commands and the drafts app call these."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from kb import states, versions
from kb.configs import CONFIG_VALIDATORS, check_context_settings, check_description, check_name
from kb.deletion import delete_documents, delete_kb
from kb.models import RETRYABLE, Document, DocumentStatus, KnowledgeBase, SourceType
from kb.pipeline.types import PipelineError
from privexbot.audit import audit_record, save_audited
from privexbot.errors import Conflict
from privexbot.metrics.definitions import DOCUMENTS_ENABLED_CHANGES, KNOWLEDGE_BASES_CREATED
from privexbot.storage import get_storage


def _audit_document(document: Document, action: str, *, user, request, **details) -> None:
    kb = document.kb
    audit_record(
        event_type="document", action=action, user=user, request=request, workspace=kb.workspace,
        resource=document, details={"kb_id": str(kb.pk), **details} if details else {},
    )  # fmt: skip


def _enqueue(document_ids: list) -> None:
    from kb.actors import process_document

    ids = [str(pk) for pk in document_ids]
    # Only after commit: a worker must never look for a document that is not visible yet.
    transaction.on_commit(lambda: [process_document.send(pk) for pk in ids])


def kb_create(
    *, workspace, user, name: str, description: str = "", chunking_config: dict | None = None,
    embedding_config: dict | None = None, vector_store_config: dict | None = None,
    context_settings: dict | None = None, duplicate_policy: str | None = None, request=None,
) -> KnowledgeBase:  # fmt: skip
    """A new, empty KB. Configs are validated by the one schema (kb.configs); missing ones get the defaults."""
    fields = {"name": check_name(name), "description": check_description(description)}
    if duplicate_policy is not None:
        fields["duplicate_policy"] = versions.check_policy(duplicate_policy)
    given = {
        "chunking_config": chunking_config,
        "embedding_config": embedding_config,
        "vector_store_config": vector_store_config,
        "context_settings": context_settings,
    }
    fields.update({k: CONFIG_VALIDATORS[k](v) for k, v in given.items() if v is not None})
    kb = KnowledgeBase.objects.create(workspace=workspace, created_by=user, **fields)
    audit_record(
        event_type="knowledge_base", action="create", user=user, request=request, workspace=workspace, resource=kb,
        details={"name": kb.name},
    )  # fmt: skip
    transaction.on_commit(KNOWLEDGE_BASES_CREATED.inc)  # a finalize that rolls back created nothing
    return kb


def documents_add(
    *, kb: KnowledgeBase, documents: list[Document], policy: str | None = None, user=None, request=None
) -> list[Document]:
    """documents_add_versioned, answering only the documents created (skipped files are not among them)."""
    return documents_add_versioned(kb=kb, documents=documents, policy=policy, user=user, request=request).created


@transaction.atomic
def documents_add_versioned(
    *, kb: KnowledgeBase, documents: list[Document], policy: str | None = None, user=None, request=None
) -> versions.VersionReport:
    """Create prepared (unsaved) documents in `kb` in one batch and queue them after commit; for callers that
    already accepted the content (a finalized draft). File uploads follow the KB's duplicate policy (or
    `policy`): kb.versions decides which are added, replace an earlier version or are skipped; a skipped
    document's files (it owned them) are shredded after commit. Returns the report (`.created`: the new rows).
    The caller writes its own audit event for the additions; replacements and skips are audited here."""
    for document in documents:
        if document.status != DocumentStatus.QUEUED:  # a new row enters the state machine at its start
            raise ValueError(f"a new document starts queued, not {document.status}")
        document.kb = kb
    report = versions.versions_assign(kb=kb, documents=documents, policy=policy)
    created = Document.objects.bulk_create(report.created)
    versions.versions_record(kb=kb, report=report, user=user, request=request, door="documents_add")
    created_ids = {d.pk for d in created}
    orphans = [
        f for d in documents if d.pk not in created_ids for f in (d.stored_file, d.elements_file) if f
    ]  # fmt: skip
    if orphans:
        storage = get_storage()
        transaction.on_commit(lambda: [storage.delete(f) for f in orphans])
    _enqueue([d.pk for d in created])
    return report


def file_sha256(fileobj: BinaryIO) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    fileobj.seek(0)
    while block := fileobj.read(1024 * 1024):
        digest.update(block)
        size += len(block)
    fileobj.seek(0)
    return digest.hexdigest(), size


@dataclass
class AcceptedFile:
    filename: str
    file_type: str
    stored: str
    size: int
    content_hash: str


def file_accept(*, filename: str, fileobj: BinaryIO) -> AcceptedFile:
    """The one gate for uploaded files, for KBs and drafts alike: size (checked while reading, so a huge
    upload stops early), type by magic bytes against the extension and ALLOWED_FILE_TYPES, archive
    safety; then the bytes are stored encrypted. Raises PipelineError and stores nothing on bad input.

    `fileobj` must be seekable. The checks read it where it is (memory, or the encrypted upload spool of
    privexbot.uploads) and the store seals it as it streams: no plaintext copy is written anywhere."""
    from kb.pipeline.filecheck import check_file

    safe_name = Path(filename or "upload").name[:255] or "upload"
    digest, size = hashlib.sha256(), 0
    fileobj.seek(0)
    while block := fileobj.read(1024 * 1024):
        digest.update(block)
        size += len(block)
        if size > settings.MAX_FILE_SIZE:
            raise PipelineError(
                "too_large", f"The file is larger than the {settings.MAX_FILE_SIZE / 2**20:g} MB limit."
            )
    file_type = check_file(
        filename=safe_name, fileobj=fileobj, allowed_types=settings.ALLOWED_FILE_TYPES, max_size=settings.MAX_FILE_SIZE
    )
    fileobj.seek(0)
    stored = get_storage().save(fileobj)
    return AcceptedFile(safe_name, file_type, stored, size, digest.hexdigest())


@dataclass
class AcceptedText:
    stored: str
    elements_file: str
    size: int
    content_hash: str


def text_accept(*, content: str) -> AcceptedText:
    """Pasted text, for KBs and drafts alike: stored encrypted, split into elements in-process (no parser
    child needed), so the preview and the worker read the same elements."""
    from kb.pipeline.elements import elements_save
    from kb.pipeline.text import text_to_elements

    data = content.encode("utf-8")
    return AcceptedText(
        stored=get_storage().save(data),
        elements_file=elements_save(text_to_elements(content)),
        size=len(data),
        content_hash=hashlib.sha256(data).hexdigest(),
    )


def document_find_unchanged(*, kb: KnowledgeBase, name: str, content_hash: str) -> Document | None:
    """The latest version of file `name` when it holds exactly these bytes (kb.versions' "identical")."""
    latest = versions.latest_versions(kb=kb, names=[name]).get(name)
    return latest if latest is not None and latest.content_hash == content_hash else None


@dataclass
class FileAdded:
    """document_add_file's answer: `document` is the new document, or for `skipped` the existing one it matched."""

    outcome: str  # kb.versions: added | replaced | skipped
    document: Document
    replaces: Document | None = None
    reason: str = ""


@transaction.atomic
def document_add_file(
    *, kb: KnowledgeBase, user, filename: str, fileobj: BinaryIO, metadata: dict | None = None, request=None,
    policy: str | None = None, door: str = "",
) -> FileAdded:  # fmt: skip
    """Add one uploaded file under the KB's duplicate policy (or `policy`; kb.versions): skipped before anything
    is stored, or validated (size, type by magic bytes, archive safety), stored encrypted, created (a new
    version replacing the old one when the bytes changed) and queued. Raises PipelineError for a bad file;
    nothing is stored then."""
    safe_name = Path(filename or "upload").name[:255] or "upload"  # the name file_accept gives the document
    content_hash, _ = file_sha256(fileobj)
    probe = Document(kb=kb, source_type=SourceType.FILE_UPLOAD, name=safe_name, content_hash=content_hash)
    report = versions.versions_assign(kb=kb, documents=[probe], policy=policy)  # holds the name's lock from here
    (entry,) = report.entries
    if entry.outcome == versions.SKIPPED:
        versions.versions_record(kb=kb, report=report, user=user, request=request, door=door)
        return FileAdded(outcome=entry.outcome, document=entry.existing, reason=entry.reason)
    accepted = file_accept(filename=filename, fileobj=fileobj)
    document = Document.objects.create(
        kb=kb,
        source_type=SourceType.FILE_UPLOAD,
        name=accepted.filename,
        file_type=accepted.file_type,
        metadata={"original_filename": accepted.filename, **(metadata or {})},
        stored_file=accepted.stored,
        size_bytes=accepted.size,
        content_hash=accepted.content_hash,
        file_version=probe.file_version,
        replaces=probe.replaces,
    )
    entry.document = document
    if entry.outcome == versions.ADDED:  # a replacement's "create" event (version, replaces) is written below
        _audit_document(
            document, "create", user=user, request=request, filename=document.name, size=accepted.size,
            type=accepted.file_type,
        )  # fmt: skip
    versions.versions_record(kb=kb, report=report, user=user, request=request, door=door)
    _enqueue([document.pk])
    return FileAdded(outcome=entry.outcome, document=document, replaces=entry.existing)


def document_create_from_file(
    *, kb: KnowledgeBase, user, filename: str, fileobj: BinaryIO, metadata: dict | None = None, request=None
) -> Document:
    """document_add_file, answering only the document: the new one, or the existing one an identical (or, with
    the `skip` policy, same-named) file matched."""
    return document_add_file(
        kb=kb, user=user, filename=filename, fileobj=fileobj, metadata=metadata, request=request
    ).document


@transaction.atomic
def document_create_from_text(*, kb: KnowledgeBase, user, title: str, content: str, metadata=None, request=None):
    title = (title or "").strip()
    if not 1 <= len(title) <= 255:
        raise PipelineError("invalid", "The title must be 1 to 255 characters.")
    if len(content.strip()) < 10:
        raise PipelineError("invalid", "The text must be at least 10 characters.")
    accepted = text_accept(content=content)
    document = Document.objects.create(
        kb=kb,
        source_type=SourceType.TEXT_INPUT,
        name=title,
        file_type="txt",
        metadata={"word_count": len(content.split()), "char_count": len(content), **(metadata or {})},
        stored_file=accepted.stored,
        elements_file=accepted.elements_file,
        size_bytes=accepted.size,
        content_hash=accepted.content_hash,
    )
    _audit_document(document, "create", user=user, request=request, title=title, type="text")
    _enqueue([document.pk])
    return document


def _refuse_in_progress(document: Document) -> Conflict:
    row = Document.objects.filter(pk=document.pk).values_list("status", "progress").first()
    if row is None:
        return Conflict(f"“{document.name}” no longer exists.", code="not_found")
    status, progress = row
    return Conflict(
        f"“{document.name}” is being processed right now ({status}, {progress} %); reprocess it when it has finished.",
        code="in_progress",
        details={"status": [status]},
    )


@transaction.atomic
def document_reprocess(*, document: Document, user=None, request=None, reset_attempts: bool = True) -> Document:
    """Queue a document again (after a config change, or a stuck one whose worker went silent). Parsed
    elements and cached embeddings are reused, so only missing work is redone. A document a live worker is
    on is refused with Conflict: the run would overwrite the request, or the request would discard the run."""
    if not states.requeue(document.pk, reset_attempts=reset_attempts):
        raise _refuse_in_progress(document)
    _audit_document(document, "reprocess", user=user, request=request)
    _enqueue([document.pk])
    document.refresh_from_db()
    return document


@transaction.atomic
def document_retry(*, document: Document, user=None, request=None) -> Document:
    """A user's Retry: only a failed or quarantined document, with its attempts reset."""
    if not states.requeue(document.pk, reset_attempts=True, when=Q(status__in=RETRYABLE)):
        status = Document.objects.filter(pk=document.pk).values_list("status", flat=True).first()
        raise Conflict(
            f"Only a failed or quarantined document can be retried; “{document.name}” is {status or 'deleted'}.",
            code="not_retryable",
        )
    _audit_document(document, "retry", user=user, request=request)
    _enqueue([document.pk])
    document.refresh_from_db()
    return document


@transaction.atomic
def kb_reindex(*, kb: KnowledgeBase, user=None, request=None) -> int:
    """Queue every document of the KB again; documents a live worker is on are left to finish (they are being
    built from the same configuration). Returns how many were queued."""
    ids = list(kb.documents.filter(states.requeueable()).select_for_update().values_list("pk", flat=True))
    queued = states.requeue_all(Document.objects.filter(pk__in=ids), reset_attempts=True)
    skipped = kb.documents.count() - queued
    audit_record(
        event_type="knowledge_base", action="reindex", user=user, request=request, workspace=kb.workspace,
        resource=kb, details={"queued": queued, "in_progress": skipped},
    )  # fmt: skip
    _enqueue(ids)
    return queued


SUPERSEDED = "superseded_by"  # metadata of an old version kept (disabled) under a legal hold: kb.versions


@transaction.atomic
def documents_set_enabled(*, kb: KnowledgeBase, document_ids, enabled: bool, user=None, request=None) -> int:
    """Disable documents of `kb` (kept with their chunks, left out of every search: kb.search.selector) or enable
    them again (back in search at once, nothing re-parsed or re-embedded). Only rows whose state changes are
    written and audited, one event each; returns how many changed (a superseded version is never enabled).
    Callers hold kb:update (the access funnel)."""
    rows = kb.documents.select_for_update().filter(pk__in=list(document_ids), enabled=not enabled)
    if enabled:  # an old version kept under a legal hold (kb.versions) stays out: its successor serves search
        rows = rows.exclude(metadata__has_key=SUPERSEDED)
    changed = list(rows.order_by("pk").values_list("pk", "name"))
    if not changed:
        return 0
    kb.documents.filter(pk__in=[pk for pk, _ in changed]).update(enabled=enabled, updated_at=timezone.now())
    action = "enable" if enabled else "disable"
    for pk, name in changed:
        audit_record(
            event_type="document", action=action, user=user, request=request, workspace=kb.workspace,
            resource=pk, resource_type="Document", details={"kb_id": str(kb.pk), "name": name},
        )  # fmt: skip
    transaction.on_commit(lambda: DOCUMENTS_ENABLED_CHANGES.labels(action=action).inc(len(changed)))
    return len(changed)


def document_set_enabled(*, document: Document, enabled: bool, user=None, request=None) -> Document:
    """One document disabled or enabled (documents_set_enabled); a document already in that state is unchanged.
    Enabling a superseded version is refused (Conflict)."""
    if enabled and SUPERSEDED in (document.metadata or {}):
        raise Conflict(
            f"“{document.name}” is an old version replaced by a newer one; it stays out of search.", code="superseded"
        )
    documents_set_enabled(kb=document.kb, document_ids=[document.pk], enabled=enabled, user=user, request=request)
    document.refresh_from_db(fields=["enabled", "updated_at"])
    return document


def document_delete(*, document: Document, user=None, request=None, reason: str = "user"):
    """Delete one document and everything derived from it (kb.deletion); returns the signed receipt."""
    return delete_documents(documents=[document], user=user, request=request, reason=reason)


def kb_update(
    *, kb: KnowledgeBase, user, name: str | None = None, description: str | None = None,
    context_settings: dict | None = None, duplicate_policy: str | None = None,
    review_sync_changes: bool | None = None, request=None,
) -> KnowledgeBase:  # fmt: skip
    changes = {}
    if review_sync_changes is not None:
        changes["review_sync_changes"] = bool(review_sync_changes)
    if duplicate_policy is not None:
        changes["duplicate_policy"] = versions.check_policy(duplicate_policy)
    if name is not None:
        changes["name"] = check_name(name)
    if description is not None:
        changes["description"] = check_description(description)
    if context_settings is not None:
        changes["context_settings"] = check_context_settings(context_settings)
    return save_audited(kb, changes, event_type="knowledge_base", user=user, request=request, workspace=kb.workspace)


def kb_delete(*, kb: KnowledgeBase, user, request=None, reason: str = "user"):
    """Delete the KB and everything derived from it (kb.deletion); returns the signed receipt."""
    return delete_kb(kb=kb, user=user, request=request, reason=reason)
