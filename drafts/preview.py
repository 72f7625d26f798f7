"""Chunk preview and validation of a draft. Read-only: chunks the cached elements with the draft's
config through kb.pipeline.runtime.chunk_for_model, the very call the worker makes when indexing (each source's
chunks cached per config by drafts.preview_cache)."""

from __future__ import annotations

from django.conf import settings

from drafts import preview_cache, settings_draft
from drafts.models import KBDraft, SourceStatus
from drafts.settings_draft import is_settings_draft
from kb.configs import embedding_cost
from kb.pipeline import runtime

TOKENS_PER_SECOND = 3500  # measured: ~16 chunks/s of ~220 tokens on 2 cores; used for the time estimate


def draft_preview(*, draft: KBDraft, source_id=None, offset: int = 0, limit: int | None = None) -> dict:
    """A page of the draft's chunks and the totals of all of them. Sources' chunkings are cached per config
    (drafts.preview_cache); `complete` is false while a huge source is still being chunked whole, and the totals
    are then lower bounds ("at least")."""
    model = draft.embedding_config.get("model", settings.DEFAULT_EMBEDDING_MODEL)
    warnings, scale = [], 1.0
    if is_settings_draft(draft):  # the KB's own documents with the new settings, as the rebuild chunks them
        rows, scale = settings_draft.document_chunks(draft, model, document_id=source_id)
        units = [(doc_id, name, name, doc_chunks) for doc_id, name, doc_chunks in rows]
        result = preview_cache.slice_units(units, offset=offset, limit=limit)
        if scale != 1.0:
            warnings.append(f"Previewed on {len(units)} of the knowledge base's ready documents; totals are estimated.")
    else:
        result = preview_cache.draft_chunks(draft=draft, model=model, source_id=source_id, offset=offset, limit=limit)
    totals = result.totals
    chunks = []
    for position, (unit_id, unit_name, document_name, chunk) in enumerate(result.chunks, start=offset):
        chunks.append(
            {
                "id": f"{unit_id}_chunk_{position}",
                "context": chunk.context,
                "content": chunk.content,
                "embedding_text": chunk.embedding_text,  # what is embedded and keyword-indexed
                "embedded_chars": len(chunk.embedding_text),
                "token_count": chunk.token_count,
                "word_count": chunk.word_count,
                "char_count": chunk.char_count,
                "source_id": unit_id,
                "source_name": unit_name,
                "document_name": document_name,
                "chunk_index": chunk.index,
                "truncated": chunk.truncated,
                "metadata": chunk.metadata,
            }
        )
    if not totals.complete:
        warnings.append(
            "A large source is still being chunked: these are its first chunks, and the totals count only the "
            "chunks known so far."
        )
    window = runtime.max_seq_length(model)
    if totals.truncated:  # the chunker cuts every chunk to the window; only a text it cannot cut is left longer
        warnings.append(
            f"{totals.truncated} of {totals.count} chunks are longer than {model}'s {window}-token limit: the model "
            "would ignore their ends."
        )
    total_tokens = round(totals.tokens * scale)
    return {
        "chunks": chunks,
        "complete": totals.complete,
        "total_chunks": round(totals.count * scale),
        "total_tokens": total_tokens,
        "avg_chunk_size": round(totals.chars / totals.count, 1) if totals.count else 0,
        "avg_token_count": round(total_tokens / totals.count, 1) if totals.count else 0,
        "estimated_embedding_cost": embedding_cost(total_tokens, model),
        "truncated_chunks": totals.truncated,
        "max_seq_length": window,
        "size_note": _size_note(draft.chunking_config, totals.tokens, totals.embedded_chars, model, window),
        "warnings": warnings,
        "offset": offset,
    }


def _size_note(config: dict, tokens: int, embedded_chars: int, model: str, window: int) -> str:
    """What the chunk size means in the other unit, for this model and these sources (their characters per
    token), and the window every chunk is cut to: the wizard shows it beside the size."""
    from kb.pipeline.chunking import normalize_chunking_config
    from kb.pipeline.chunking.config import ChunkingConfigError

    try:
        config = normalize_chunking_config(config)
    except ChunkingConfigError:
        return ""
    per_token = embedded_chars / tokens if tokens else 4.0  # ~4 for English prose
    size, where = config["chunk_size"], "in these sources" if tokens else "in English prose"
    if config["size_unit"] == "tokens":
        other = f"{size} tokens ≈ {round(size * per_token):,} characters {where}"
    else:
        other = f"{size:,} characters ≈ {round(size / per_token):,} tokens of {model} {where}"
    return f"{other}. Every chunk, with its context line, is cut to fit the model's {window}-token window."


def draft_validate(*, draft: KBDraft) -> dict:
    if is_settings_draft(draft):
        return _settings_validate(draft)
    errors, warnings = [], []
    sources = list(draft.sources.all())
    if not draft.name.strip():
        errors.append("Knowledge base name is required")
    if not sources:
        errors.append("At least one source must be added")
    completed = [s for s in sources if s.status == SourceStatus.COMPLETED]
    pending = [s for s in sources if s.is_unfinished]
    failed = [s for s in sources if s.status == SourceStatus.ERROR]
    if sources and not completed:
        errors.append("At least one source must be successfully processed")
    if pending:
        warnings.append(f"{len(pending)} sources are still being processed")
    if failed:
        warnings.append(f"{len(failed)} sources failed to process")
    size = draft.chunking_config.get("chunk_size", 0)
    in_characters = draft.chunking_config.get("size_unit", "characters") == "characters"  # tokens: bounded by config
    if in_characters and size < 100:
        warnings.append("Chunk size is very small, may result in fragmented context")
    if in_characters and size > 4000:
        warnings.append("Chunk size is very large, may exceed model context limits")
    preview = draft_preview(draft=draft, limit=0)
    if preview["total_tokens"] > 1_000_000:
        warnings.append(
            f"Large knowledge base ({preview['total_tokens']:,} tokens) will take significant time to process"
        )
    warnings += preview["warnings"]
    return {
        "valid": not errors,
        "errors": errors,
        "warnings": warnings,
        "stats": {
            "total_sources": len(sources),
            "completed_sources": len(completed),
            "pending_sources": len(pending),
            "failed_sources": len(failed),
            "estimated_chunks": preview["total_chunks"],
            "estimated_tokens": preview["total_tokens"],
            "estimated_cost": preview["estimated_embedding_cost"],
            "estimated_processing_time": max(1, round(preview["total_tokens"] / TOKENS_PER_SECOND)),
        },
    }


def _settings_validate(draft: KBDraft) -> dict:
    """A settings draft: the new settings must be valid and change something, no rebuild may be running; the
    stats estimate the rebuild (every ready document is chunked and embedded again, cached vectors reused)."""
    errors = settings_draft.settings_errors(draft)
    preview = draft_preview(draft=draft, limit=0)
    documents = len(settings_draft.preview_documents(draft))
    return {
        "valid": not errors,
        "errors": errors,
        "warnings": preview["warnings"],
        "stats": {
            "total_sources": 0,
            "completed_sources": 0,
            "pending_sources": 0,
            "failed_sources": 0,
            "documents_previewed": documents,
            "estimated_chunks": preview["total_chunks"],
            "estimated_tokens": preview["total_tokens"],
            "estimated_cost": preview["estimated_embedding_cost"],
            "estimated_processing_time": max(1, round(preview["total_tokens"] / TOKENS_PER_SECOND)),
        },
    }
