"""A draft of a live KB's settings (purpose SETTINGS): new chunking, embedding model or distance metric, previewed
on the KB's own documents before anything is rebuilt.

The draft holds no sources: its preview chunks the KB's ready documents from their cached parsed elements with
the draft's settings through kb.rebuild_worker.document_chunks — the call the rebuild makes, so the preview is what
gets indexed. Finalize validates and starts the rebuild (kb.rebuild.rebuild_start); the KB keeps serving its
current index until the rebuild switches.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from drafts.models import DraftPurpose, KBDraft
from kb.models import Document, DocumentStatus, KnowledgeBase
from kb.rebuild import rebuild_active, rebuild_start, rebuild_validate
from privexbot.audit import audit_record
from privexbot.errors import Conflict

# The preview reads this many of the KB's documents (every one of a small KB); the totals are scaled to all.
PREVIEW_DOCUMENTS = 25


def draft_create_settings(*, kb: KnowledgeBase, user, request=None) -> KBDraft:
    """A settings draft of `kb` (from the access funnel with kb:update), starting from its current settings."""
    from drafts.services import draft_create

    if rebuild_active(kb) is not None:
        raise Conflict("A rebuild of this knowledge base is already running.", code="rebuild_running")
    return draft_create(
        workspace=kb.workspace, user=user, name=f"New settings for {kb.name}"[:255], target_kb=kb,
        purpose=DraftPurpose.SETTINGS, request=request,
    )  # fmt: skip


def is_settings_draft(draft: KBDraft) -> bool:
    return draft.purpose == DraftPurpose.SETTINGS


def preview_documents(draft: KBDraft) -> list[Document]:
    """What the chunking step offers to filter by: the KB's ready documents that the preview reads (those with
    cached parsed elements: a request never parses; the rebuild parses the others again if it must)."""
    return list(_ready(draft).exclude(elements_file="")[:PREVIEW_DOCUMENTS])


def _ready(draft: KBDraft):
    return Document.objects.filter(kb_id=draft.target_kb_id, status=DocumentStatus.READY).order_by("created_at", "pk")


def document_chunks(draft: KBDraft, model: str, document_id=None):
    """(document id, document name, chunks) of the previewed documents with the draft's chunking, and the scale
    from those documents to all of the KB's ready ones (1.0 when every one was read)."""
    from kb.pipeline.runner import load_elements
    from kb.rebuild_worker import document_chunks as chunks_of

    documents = preview_documents(draft)
    if document_id is not None:
        documents = [d for d in documents if str(d.pk) == str(document_id)]
    total = _ready(draft).count()
    rows = []
    for document in documents:
        elements = load_elements(document)
        rows.append(
            (str(document.pk), document.name, chunks_of(document, elements, chunking_config=draft.chunking_config,
                                                        model=model))
        )  # fmt: skip
    scale = total / len(documents) if documents and document_id is None else 1.0
    return rows, scale


def _configs(draft: KBDraft) -> dict:
    return rebuild_validate(
        kb=draft.target_kb, chunking_config=draft.chunking_config, embedding_config=draft.embedding_config,
        vector_store_config=draft.vector_store_config,
    )  # fmt: skip


def settings_errors(draft: KBDraft) -> list[str]:
    """What stops the rebuild: invalid or unchanged settings (the model must be installed, its dimensions right,
    sizes in bounds), or a rebuild of the KB already running."""
    errors = []
    try:
        _configs(draft)
    except ValidationError as exc:
        errors += [m for ms in exc.message_dict.values() for m in ms] if hasattr(exc, "error_dict") else exc.messages
    if rebuild_active(draft.target_kb) is not None:
        errors.append("A rebuild of this knowledge base is already running.")
    return errors


def settings_finalize(*, draft: KBDraft, user, request=None) -> KnowledgeBase:
    """Validate, start the rebuild with the draft's settings, delete the draft. The KB is returned with its
    rebuild (kb.rebuild_started) and an empty file report (a rebuild adds no files)."""
    from kb.versions import VersionReport

    errors = settings_errors(draft)
    if errors:
        raise ValidationError({"draft": errors})
    with transaction.atomic():
        draft = KBDraft.objects.select_for_update().get(pk=draft.pk)
        kb = draft.target_kb
        rebuild = rebuild_start(
            kb=kb, user=user, chunking_config=draft.chunking_config, embedding_config=draft.embedding_config,
            vector_store_config=draft.vector_store_config, request=request, door="draft",
        )  # fmt: skip
        audit_record(
            event_type="knowledge_base", action="finalize_draft", user=user, request=request,
            workspace=draft.workspace, resource=kb,
            details={"draft_id": str(draft.pk), "purpose": draft.purpose, "rebuild_id": str(rebuild.pk)},
        )  # fmt: skip
        draft.delete()
    kb.rebuild_started = rebuild
    kb.add_report = VersionReport()
    return kb
