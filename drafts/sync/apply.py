"""Apply a sync plan to the KB: changed pages get their new elements and are reprocessed (the embedding cache
makes their unchanged chunks free), new pages become documents, gone pages are deleted through kb.deletion
(signed receipt) or kept. An entry that cannot be applied ends as `failed` with the reason."""

from __future__ import annotations

import logging

from django.db import transaction

from drafts.sync.plan import Entry, Plan
from drafts.sync.sources import page_metadata
from kb.models import Document, KnowledgeBase, SourceType, WebsiteSource
from kb.pipeline.elements import elements_save
from privexbot.errors import ServiceError
from privexbot.storage import get_storage

logger = logging.getLogger(__name__)
DELETION_REASON = "website_sync"


def apply_plan(*, kb: KnowledgeBase, source: WebsiteSource, plan: Plan, user, request=None) -> None:
    for entry in plan.of("changed"):
        _apply_changed(kb, entry, user=user, request=request)
    remember_validators(kb, plan)
    _apply_added(kb, source, plan.of("added"))
    _apply_removed(kb, plan.of("removed"), user=user, request=request)


def _apply_changed(kb: KnowledgeBase, entry: Entry, *, user, request) -> None:
    from kb.services import document_reprocess

    document = Document.objects.filter(pk=entry.document_id, kb=kb).first()
    if document is None:
        _fail(entry, "the document was deleted meanwhile")
        return
    page, old_file = entry.page, document.elements_file
    new_file = elements_save(page["elements"])
    try:
        with transaction.atomic():
            Document.objects.filter(pk=document.pk).update(
                elements_file=new_file,
                content_hash=page["content_hash"],
                name=(page["title"] or page["url"])[:500],
                metadata={**document.metadata, **page_metadata(page)},
            )
            document_reprocess(document=document, user=user, request=request)  # refused while a worker is on it
    except ServiceError as exc:
        get_storage().delete(new_file)
        _fail(entry, exc.message)
        return
    if old_file and old_file != new_file:
        get_storage().delete(old_file)


def remember_validators(kb: KnowledgeBase, plan: Plan) -> None:
    """Unchanged pages that came back 200 with the same text: keep their new ETag / Last-Modified, so the next sync
    gets a 304. Not a change of content: done at once, also when the changes wait for review."""
    for entry in plan.of("unchanged"):
        if entry.page is not None:
            _remember_validators(kb, entry)


def _remember_validators(kb: KnowledgeBase, entry: Entry) -> None:
    with transaction.atomic():
        document = Document.objects.select_for_update().filter(pk=entry.document_id, kb=kb).first()
        if document is not None:
            metadata = {**document.metadata, **page_metadata(entry.page)}
            Document.objects.filter(pk=document.pk).update(metadata=metadata)


def new_page_document(source: WebsiteSource, page: dict, *, elements_file: str) -> Document:
    return Document(
        kb=source.kb,
        source_type=SourceType.WEBSITE_CRAWL,
        name=(page["title"] or page["url"])[:500],
        url=page["url"],
        file_type="html",
        metadata={"source_name": f"Website: {source.url}"[:500], **page_metadata(page)},
        elements_file=elements_file,
        content_hash=page["content_hash"],
        website_source=source,
    )


def _apply_added(kb: KnowledgeBase, source: WebsiteSource, entries: list[Entry]) -> None:
    from kb.services import documents_add

    if not entries:
        return
    documents = [new_page_document(source, e.page, elements_file=elements_save(e.page["elements"])) for e in entries]
    with transaction.atomic():
        created = documents_add(kb=kb, documents=documents)  # queued after commit
    by_url = {document.url: document for document in created}
    for entry in entries:
        if entry.url in by_url:
            entry.document_id = str(by_url[entry.url].pk)
        else:
            _fail(entry, "the knowledge base did not add it")


def _apply_removed(kb: KnowledgeBase, entries: list[Entry], *, user, request) -> None:
    from kb.deletion import delete_documents

    documents = list(Document.objects.filter(kb=kb, pk__in=[e.document_id for e in entries]))
    if not documents:
        return
    try:
        receipt = delete_documents(documents=documents, user=user, request=request, reason=DELETION_REASON)
    except ServiceError as exc:  # a legal hold: nothing is deleted
        for entry in entries:
            entry.outcome, entry.reason = "kept", f"{entry.reason}; not deleted: {exc.message}"
        return
    for entry in entries:
        entry.reason = f"{entry.reason}; deleted (receipt {receipt.pk})"


def _fail(entry: Entry, reason: str) -> None:
    entry.outcome, entry.reason = "failed", f"{entry.reason}, but not applied: {reason}"
