"""Writes for drafts: one service per operation of the design guide, used by every door."""

from __future__ import annotations

from typing import BinaryIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from drafts.models import DraftPurpose, DraftSource, KBDraft, SourceStatus
from drafts.sync.sources import page_metadata
from kb.configs import (
    CONFIG_VALIDATORS,
    check_description,
    check_name,
    validate_chunking_config,
    validate_embedding_config,
    validate_vector_store_config,
)
from kb.models import Document, KnowledgeBase, SourceType
from kb.pipeline.elements import elements_save
from privexbot.audit import audit_record, save_audited
from privexbot.metrics.definitions import DRAFTS_CREATED
from privexbot.storage import get_storage


def draft_create(
    *,
    workspace,
    user,
    name: str = "",
    description: str = "",
    target_kb: KnowledgeBase | None = None,
    purpose: str | None = None,
    request=None,
) -> KBDraft:
    """A draft of a new KB, or with target_kb one of that KB (purpose ADD_SOURCES unless told otherwise): it
    starts from the KB's configuration, which an ADD_SOURCES draft cannot change (_locked_config_errors)."""
    purpose = purpose or (DraftPurpose.ADD_SOURCES if target_kb is not None else DraftPurpose.CREATE)
    if target_kb is not None and not (name or "").strip():
        name = f"More sources for {target_kb.name}"[:255]
    fields = {
        "workspace": workspace,
        "created_by": user,
        "name": check_name(name),
        "description": check_description(description),
        "purpose": purpose,
    }
    details = {"purpose": purpose}
    if target_kb is not None:
        if target_kb.workspace_id != workspace.pk:
            raise ValidationError({"kb_id": ["the knowledge base is in another workspace"]})
        fields.update(
            target_kb=target_kb,
            chunking_config=target_kb.chunking_config,
            embedding_config=target_kb.embedding_config,
            vector_store_config=target_kb.vector_store_config,
        )
        details.update(target_kb_id=str(target_kb.pk), target_kb_name=target_kb.name)
    draft = KBDraft.objects.create(**fields)
    audit_record(
        event_type="kb_draft", action="create", user=user, request=request, workspace=workspace, resource=draft,
        details=details,
    )  # fmt: skip
    transaction.on_commit(lambda: DRAFTS_CREATED.labels(purpose=purpose).inc())
    return draft


def draft_update(
    *, draft: KBDraft, user, name: str | None = None, description: str | None = None, request=None
) -> KBDraft:
    changes = {}
    if name is not None:
        changes["name"] = check_name(name)
    if description is not None:
        changes["description"] = check_description(description)
    return save_audited(draft, changes, event_type="kb_draft", user=user, request=request, workspace=draft.workspace)


def _audit_source(draft: KBDraft, source: DraftSource, action: str, *, user, request, details: dict) -> None:
    audit_record(
        event_type="kb_draft", action=action, user=user, request=request, workspace=draft.workspace,
        resource=source, details={"draft_id": str(draft.pk), **details},
    )  # fmt: skip


def _accepts_sources(draft: KBDraft) -> None:
    """A settings draft rebuilds the KB's own documents: sources added to it would never be indexed."""
    if draft.purpose == DraftPurpose.SETTINGS:
        raise ValidationError({"draft": ["a settings draft has no sources; add them with an add-sources draft"]})


def _touch(draft: KBDraft) -> None:
    KBDraft.objects.filter(pk=draft.pk).update(updated_at=timezone.now())


def _enqueue(actor_name: str, source_id) -> None:
    from drafts import actors

    actor = getattr(actors, actor_name)
    transaction.on_commit(lambda: actor.send(str(source_id)))


@transaction.atomic
def draft_source_add_file(
    *,
    draft: KBDraft,
    user,
    filename: str,
    fileobj: BinaryIO,
    title: str | None = None,
    metadata: dict | None = None,
    request=None,
) -> DraftSource:
    """Checks size and type (magic bytes), stores the file encrypted and queues its parse.
    Raises PipelineError (too_large, unsupported_type, type_mismatch, zip_bomb, ...) and stores nothing then."""
    from kb.services import file_accept

    _accepts_sources(draft)
    accepted = file_accept(filename=filename, fileobj=fileobj)
    safe_name, size = accepted.filename, accepted.size
    source = DraftSource.objects.create(
        draft=draft,
        type="file_upload",
        name=(title or "").strip()[:255] or safe_name,
        file_type=accepted.file_type,
        stored_file=accepted.stored,
        size_bytes=size,
        content_hash=accepted.content_hash,
        metadata={
            **(metadata or {}),
            "original_filename": safe_name,
            "file_type": accepted.file_type,
            "size_bytes": size,
        },
    )
    _touch(draft)
    _audit_source(
        draft,
        source,
        "add_source",
        user=user,
        request=request,
        details={"type": "file_upload", "filename": safe_name, "size": size},
    )
    _enqueue("parse_draft_source", source.pk)
    return source


@transaction.atomic
def draft_source_add_text(
    *, draft: KBDraft, user, title: str, content: str, metadata: dict | None = None, request=None
) -> DraftSource:
    from kb.services import text_accept

    _accepts_sources(draft)
    title = (title or "").strip()
    if not 1 <= len(title) <= 255:
        raise ValidationError({"title": ["must be 1 to 255 characters"]})
    if len((content or "").strip()) < 10:
        raise ValidationError({"content": ["must be at least 10 characters"]})
    accepted = text_accept(content=content)
    source = DraftSource.objects.create(
        draft=draft,
        type="text_input",
        name=title,
        status=SourceStatus.COMPLETED,
        file_type="txt",
        stored_file=accepted.stored,
        elements_file=accepted.elements_file,
        size_bytes=accepted.size,
        content_hash=accepted.content_hash,
        content_preview=content[:500],
        metadata={**(metadata or {}), "word_count": len(content.split()), "character_count": len(content)},
    )
    _touch(draft)
    _audit_source(
        draft, source, "add_source", user=user, request=request, details={"type": "text_input", "title": title}
    )
    return source


@transaction.atomic
def draft_source_add_website(
    *, draft: KBDraft, user, url: str, crawl_config: dict | None = None, metadata: dict | None = None, request=None
) -> DraftSource:
    from drafts.crawler import validate_crawl_config

    _accepts_sources(draft)
    crawl_config = crawl_config or {}
    if not isinstance(crawl_config, dict):
        raise ValidationError({"crawl_config": ["must be an object"]})
    unknown = set(crawl_config) - {"max_depth", "max_pages", "include_patterns", "exclude_patterns"}
    if unknown:  # concurrency, timeouts and the user agent are the operator's settings, not the user's
        raise ValidationError({f"crawl_config.{sorted(unknown)[0]}": ["unknown field"]})
    raw = {**crawl_config, "start_url": url}
    try:
        config = validate_crawl_config(raw)
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        field = "url" if field == "start_url" else f"crawl_config.{field}"
        raise ValidationError({field: [message or str(exc)]}) from None
    if not settings.CRAWL_ALLOW_PRIVATE:
        from urllib.parse import urlsplit

        from drafts.crawler.netguard import blocked_reason

        if reason := blocked_reason(urlsplit(config.start_url).hostname or ""):
            raise ValidationError({"url": [reason[0].upper() + reason[1:]]})
    stored_config = {
        "max_depth": config.max_depth,
        "max_pages": config.max_pages,
        "include_patterns": list(config.include_patterns),
        "exclude_patterns": list(config.exclude_patterns),
    }
    source = DraftSource.objects.create(
        draft=draft,
        type="website_crawl",
        name=f"Website: {url}"[:500],
        url=url,
        crawl_config=stored_config,
        metadata=metadata or {},
    )
    _touch(draft)
    _audit_source(
        draft,
        source,
        "add_source",
        user=user,
        request=request,
        details={"type": "website_crawl", "url": url, "crawl_config": stored_config},
    )
    _enqueue("crawl_draft_source", source.pk)
    return source


def draft_source_cancel(*, source: DraftSource, user=None, request=None) -> None:
    """Ask a running crawl to stop; pages fetched so far are kept."""
    DraftSource.objects.filter(pk=source.pk).update(cancel_requested=True)


def _source_files(source: DraftSource) -> list[str]:
    return [f for f in (source.stored_file, source.elements_file) if f]


def _preview_files(sources) -> list[str]:
    """The sources' cached preview chunks (drafts.preview_cache): deleted with them."""
    from drafts.preview_cache import preview_files

    return preview_files(sources=sources)


@transaction.atomic
def draft_source_remove(*, draft: KBDraft, source: DraftSource, user=None, request=None) -> None:
    files = _source_files(source) + _preview_files(DraftSource.objects.filter(pk=source.pk))
    _audit_source(draft, source, "remove_source", user=user, request=request, details={"name": source.name})
    source.delete()  # a running crawl sees its source gone and stops
    _touch(draft)
    storage = get_storage()
    transaction.on_commit(lambda: [storage.delete(f) for f in files])


def _locked_config_errors(draft: KBDraft, changes: dict) -> dict:
    """A draft that adds sources to an existing KB is built with the KB's settings (what is previewed must be
    what the KB's other documents were indexed with): any change of them is refused, at every door."""
    kb = draft.target_kb
    return {
        field: ["sources added to an existing knowledge base use its settings; this cannot be changed here"]
        for field, value in changes.items()
        if value != CONFIG_VALIDATORS[field](getattr(kb, field))
    }


def _merged(current: dict, given, *, follows: tuple[str, str] | None = None) -> dict:
    """A partial config over the current one. follows=(key, dependent): when `key` changes and `dependent`
    was not given, it is dropped so the validator derives it again (a new model decides its dimensions)."""
    if not isinstance(given, dict):
        return given  # the validator explains
    merged = {**current, **given}
    if follows:
        key, dependent = follows
        if key in given and given[key] != current.get(key) and dependent not in given:
            merged.pop(dependent, None)
    return merged


@transaction.atomic
def draft_config_update(
    *, draft: KBDraft, user=None, chunking_config=None, embedding_config=None, vector_store_config=None, request=None
) -> KBDraft:
    """Chunking is given whole; embedding and vector-store configs may be partial (merged over the current)."""
    changes = {}
    if chunking_config is not None:
        changes["chunking_config"] = validate_chunking_config(chunking_config)
    if embedding_config is not None:
        merged = _merged(draft.embedding_config, embedding_config, follows=("model", "dimensions"))
        changes["embedding_config"] = validate_embedding_config(merged)
    if vector_store_config is not None:
        changes["vector_store_config"] = validate_vector_store_config(
            _merged(draft.vector_store_config, vector_store_config)
        )
    locked = draft.target_kb_id and draft.purpose != DraftPurpose.SETTINGS  # a settings draft exists to change them
    if locked and (errors := _locked_config_errors(draft, changes)):
        raise ValidationError(errors)
    for field, value in changes.items():
        setattr(draft, field, value)
    draft.save(update_fields=[*changes, "updated_at"])
    audit_record(
        event_type="configuration",
        action="update_draft_config",
        user=user,
        request=request,
        workspace=draft.workspace,
        resource=draft,
        details=changes,
    )
    return draft


def _documents_for(kb: KnowledgeBase, source: DraftSource, keep: set) -> list[Document]:
    """The documents a completed source becomes (one per crawled page), with the source's parsed elements."""
    from drafts.selectors import source_units

    documents = []
    units = source_units(source)
    single = len(units) == 1 and source.type != "website_crawl"
    website = _website_source_for(kb, source, units)  # kept so it can be re-synced (drafts.sync)
    for unit in units:
        documents.append(
            Document(
                kb=kb,
                source_type=SourceType(source.type),
                name=unit["name"][:500],
                url=unit["url"],
                file_type=source.file_type or ("html" if source.type == "website_crawl" else ""),
                metadata={**source.metadata, "draft_source_id": str(source.pk), "source_name": source.name}
                | (page_metadata(unit["page"]) if website else {}),
                website_source=website,
                stored_file=source.stored_file if single else "",
                elements_file=source.elements_file if single else elements_save(unit["elements"]),
                size_bytes=source.size_bytes if single else 0,
                content_hash=unit["content_hash"] or source.content_hash,
            )
        )
    if single:
        keep.update(_source_files(source))  # the document takes over the source's files
    return documents


def _website_source_for(kb: KnowledgeBase, source: DraftSource, units: list):
    if source.type != "website_crawl" or not units:
        return None
    from drafts.sync.sources import website_source_create

    user = source.draft.created_by
    return website_source_create(kb=kb, url=source.url, crawl_config=source.crawl_config, user=user)


def draft_finalize(*, draft: KBDraft, user, request=None) -> KnowledgeBase:
    """Validate, then in one transaction create the KB (or use the target KB) and one Document per
    completed source — one per crawled page — with the draft's exact chunking config; processing is
    enqueued after commit and the draft is deleted. Raises ValidationError with the validation errors."""
    from drafts.preview import draft_validate
    from kb.services import documents_add_versioned, kb_create

    if draft.purpose == DraftPurpose.SYNC_REVIEW:  # a website re-sync's reviewed changes (drafts.sync.review)
        from drafts.sync.review import review_finalize

        return review_finalize(draft=draft, user=user, request=request)
    if draft.purpose == DraftPurpose.SETTINGS:  # new settings of the target KB: a rebuild (drafts.settings_draft)
        from drafts.settings_draft import settings_finalize

        return settings_finalize(draft=draft, user=user, request=request)
    report = draft_validate(draft=draft)
    if not report["valid"]:
        raise ValidationError({"draft": report["errors"]})
    with transaction.atomic():
        draft = KBDraft.objects.select_for_update().get(pk=draft.pk)
        kb = draft.target_kb
        if kb is None:
            kb = kb_create(
                workspace=draft.workspace,
                user=user,
                name=draft.name,
                description=draft.description,
                chunking_config=draft.chunking_config,
                embedding_config=draft.embedding_config,
                vector_store_config=draft.vector_store_config,
                context_settings=draft.context_settings,
                request=request,
            )
        keep: set[str] = set()
        documents = [
            document
            for source in draft.sources.filter(status=SourceStatus.COMPLETED)
            for document in _documents_for(kb, source, keep)
        ]
        # Files follow the KB's duplicate policy (kb.versions); the doors show this report after finalize.
        kb.add_report = documents_add_versioned(kb=kb, documents=documents, user=user, request=request)
        leftovers = [f for s in draft.sources.all() for f in _source_files(s) if f not in keep]
        leftovers += _preview_files(draft.sources.all())
        audit_record(
            event_type="knowledge_base",
            action="finalize_draft",
            user=user,
            request=request,
            workspace=draft.workspace,
            resource=kb,
            details={"draft_id": str(draft.pk), "documents": len(kb.add_report.created), **kb.add_report.counts},
        )
        draft.delete()
        storage = get_storage()
        transaction.on_commit(lambda: [storage.delete(f) for f in leftovers])
    return kb


@transaction.atomic
def draft_delete(*, draft: KBDraft, user=None, request=None, reason: str = "deleted") -> None:
    if draft.sync_run_id:  # a re-sync's review draft deleted unapplied: the changes are discarded
        from drafts.sync.review import review_discarded

        review_discarded(draft=draft, user=user, request=request)
    files = [f for s in draft.sources.all() for f in _source_files(s)] + _preview_files(draft.sources.all())
    DraftSource.objects.filter(draft=draft).update(cancel_requested=True)
    audit_record(
        event_type="kb_draft",
        action=reason,
        user=user,
        request=request,
        workspace=draft.workspace,
        resource=draft,
        details={"name": draft.name, "files_deleted": len(files)},
    )
    draft.delete()
    storage = get_storage()
    transaction.on_commit(lambda: [storage.delete(f) for f in files])


def drafts_expire() -> int:
    """Periodic: delete drafts past their expiry, with their stored files."""
    expired = list(KBDraft.objects.filter(expires_at__lt=timezone.now()))
    for draft in expired:
        draft_delete(draft=draft, reason="expired")
    return len(expired)
