"""Request and response shapes of the draft API: the design guide's schemas (5.2)."""

from __future__ import annotations

from rest_framework import serializers

from drafts.crawler.config import LIMITS
from drafts.crawler.patterns import MAX_PATTERN_LENGTH, MAX_PATTERNS, PatternError, compile_pattern
from kb.api.serializers import VersionReport
from privexbot.api.serializers import JSONObjectField, JSONStringObjectField

PREVIEW_MAX_LIMIT = 1000


# ---------------------------------------------------------------- requests
class CreateKBDraftRequest(serializers.Serializer):
    """Without kb_id: a draft of a new KB (name and workspace_id required). With kb_id: a draft that adds sources
    to that KB with its chunking, embedding and vector-store settings, which the draft cannot change."""

    name = serializers.CharField(
        min_length=1, max_length=255, required=False,
        help_text="required for a new KB; with kb_id it defaults to 'More sources for <KB name>'",
    )  # fmt: skip
    description = serializers.CharField(max_length=1000, required=False, allow_blank=True, allow_null=True)
    workspace_id = serializers.UUIDField(
        required=False, help_text="required for a new KB; with kb_id optional (it must then be the KB's workspace)"
    )
    kb_id = serializers.UUIDField(
        required=False, allow_null=True,
        help_text="an existing KB to add sources to (needs kb:update on it and kb:create in its workspace)",
    )  # fmt: skip

    purpose = serializers.ChoiceField(
        choices=["add_sources", "settings"], required=False,
        help_text="with kb_id: add_sources (default) or settings — a draft of the KB's chunking, embedding model and "
        "distance metric whose preview shows the KB's documents with the new settings; finalize rebuilds the index",
    )  # fmt: skip

    def validate(self, data):
        if data.get("purpose") == "settings" and not data.get("kb_id"):
            raise serializers.ValidationError({"kb_id": ["a settings draft needs the knowledge base (kb_id)"]})
        if not data.get("kb_id"):
            required = {f: ["This field is required."] for f in ("name", "workspace_id") if not data.get(f)}
            if required:
                raise serializers.ValidationError(required)
        return data


class FileSourceRequest(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True, use_url=False)
    title = serializers.CharField(max_length=255, required=False, allow_blank=True, allow_null=True)
    metadata = JSONStringObjectField(required=False, allow_blank=True, help_text="a JSON object, as a string")


def _usable_patterns(patterns: list[str]) -> None:
    """Compiled with the crawler's linear-time engine (RE2): a 400 naming the pattern, not a failed crawl."""
    for pattern in patterns:
        try:
            compile_pattern(pattern.strip())
        except PatternError as exc:
            raise serializers.ValidationError(str(exc)) from None


class WebsiteCrawlConfig(serializers.Serializer):
    max_depth = serializers.IntegerField(min_value=LIMITS["max_depth"][0], max_value=LIMITS["max_depth"][1])
    max_pages = serializers.IntegerField(min_value=LIMITS["max_pages"][0], max_value=LIMITS["max_pages"][1])
    include_patterns = serializers.ListField(
        child=serializers.CharField(max_length=MAX_PATTERN_LENGTH),
        max_length=MAX_PATTERNS,
        validators=[_usable_patterns],
        help_text="RE2 regexes (no look-around or back-references), or 'glob:' + a glob",
    )
    exclude_patterns = serializers.ListField(
        child=serializers.CharField(max_length=MAX_PATTERN_LENGTH),
        max_length=MAX_PATTERNS,
        validators=[_usable_patterns],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False

    def to_internal_value(self, data):
        if isinstance(data, dict) and (unknown := sorted(set(data) - set(self.fields))):
            raise serializers.ValidationError({unknown[0]: ["unknown field"]})
        return super().to_internal_value(data)


class WebsiteSourceRequest(serializers.Serializer):
    url = serializers.CharField(max_length=2000, help_text="http(s) URL where the crawl starts")
    crawl_config = WebsiteCrawlConfig(required=False)
    metadata = JSONObjectField(required=False)


class TextSourceRequest(serializers.Serializer):
    title = serializers.CharField(min_length=1, max_length=255)
    content = serializers.CharField(min_length=10, trim_whitespace=False)
    metadata = JSONObjectField(required=False)


class ChunkPreviewRequest(serializers.Serializer):
    source_id = serializers.UUIDField(required=False, allow_null=True, help_text="only this source's chunks")
    offset = serializers.IntegerField(min_value=0, default=0)
    limit = serializers.IntegerField(min_value=0, max_value=PREVIEW_MAX_LIMIT, default=100)


class ConfigUpdateRequest(serializers.Serializer):
    chunking_config = JSONObjectField(
        required=False, help_text="strategy (recursive | by_heading | by_page | ...), chunk_size, chunk_overlap, ..."
    )
    embedding_config = JSONObjectField(required=False, help_text="provider, model, dimensions, batch_size")
    vector_store_config = JSONObjectField(
        required=False, help_text="provider (pgvector), distance_metric, enable_hybrid_search"
    )


# ---------------------------------------------------------------- responses
PURPOSE_HELP = "create (a new KB), add_sources (to kb_id), settings (of kb_id), sync_review (of kb_id)"


class KBDraftResponse(serializers.Serializer):
    draft_id = serializers.CharField()
    status = serializers.CharField()
    message = serializers.CharField()
    purpose = serializers.CharField(help_text=PURPOSE_HELP)
    kb_id = serializers.CharField(allow_null=True, help_text="the existing KB the draft targets, or null")


class SourceResponse(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()
    metadata = serializers.DictField()
    content_preview = serializers.CharField()
    created_at = serializers.DateTimeField()
    error = serializers.SerializerMethodField()
    error_code = serializers.SerializerMethodField()
    url = serializers.CharField(help_text="website sources: the start URL")
    pages_found = serializers.IntegerField()
    pages_processed = serializers.IntegerField()
    attempts = serializers.IntegerField(help_text="parse or crawl runs started (a silent worker's run is retried)")

    def get_error(self, source) -> str | None:
        return source.error or None

    def get_error_code(self, source) -> str | None:
        return source.error_code or None


class ChunkPreview(serializers.Serializer):
    id = serializers.CharField()
    context = serializers.CharField(help_text="title > heading path: embedded and keyword-indexed with the content")
    content = serializers.CharField()
    embedding_text = serializers.CharField(help_text="what is embedded: the context line, a newline, the content")
    embedded_chars = serializers.IntegerField(help_text="characters of embedding_text")
    token_count = serializers.IntegerField(help_text="tokens of embedding_text in the model's tokenizer")
    word_count = serializers.IntegerField()
    char_count = serializers.IntegerField()
    source_id = serializers.CharField()
    source_name = serializers.CharField()
    document_name = serializers.CharField()
    chunk_index = serializers.IntegerField()
    truncated = serializers.BooleanField()
    metadata = serializers.DictField()


class ChunkPreviewResponse(serializers.Serializer):
    chunks = ChunkPreview(many=True)
    complete = serializers.BooleanField(
        help_text="false while a large source is still being chunked whole: the page is exact, the totals are "
        "lower bounds (ask again for the final ones)"
    )
    total_chunks = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    avg_chunk_size = serializers.FloatField()
    avg_token_count = serializers.FloatField()
    estimated_embedding_cost = serializers.FloatField()
    truncated_chunks = serializers.IntegerField()
    max_seq_length = serializers.IntegerField(required=False, help_text="the model's window, in tokens")
    size_note = serializers.CharField(required=False, help_text="the chunk size in the other unit, for this model")
    warnings = serializers.ListField(child=serializers.CharField())
    offset = serializers.IntegerField()


class ValidationResponse(serializers.Serializer):
    valid = serializers.BooleanField()
    errors = serializers.ListField(child=serializers.CharField())
    warnings = serializers.ListField(child=serializers.CharField())
    stats = serializers.DictField()


class FinalizeResponse(serializers.Serializer):
    kb_id = serializers.UUIDField(help_text="the new KB, or the existing KB the draft targeted")
    status = serializers.CharField()
    message = serializers.CharField()
    purpose = serializers.CharField(help_text="the finalized draft's purpose: " + PURPOSE_HELP)
    documents = VersionReport(help_text="files added, replaced (a new version) or skipped by the KB's duplicate_policy")


class MessageResponse(serializers.Serializer):
    message = serializers.CharField()


class KBDraftDetails(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.CharField()
    workspace_id = serializers.CharField()
    created_by = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    purpose = serializers.CharField(help_text=PURPOSE_HELP)
    kb_id = serializers.CharField(allow_null=True, help_text="the existing KB the draft targets, or null")
    created_at = serializers.CharField()
    updated_at = serializers.CharField()
    data = serializers.DictField()


def draft_details(*, draft, sources, processing_status: dict) -> dict:
    """KBDraftDetails: the guide's envelope with the draft's content under `data`."""
    return {
        "id": str(draft.pk),
        "type": "kb",
        "workspace_id": str(draft.workspace_id),
        "created_by": str(draft.created_by_id) if draft.created_by_id else None,
        "status": "draft",
        "purpose": draft.purpose,
        "kb_id": str(draft.target_kb_id) if draft.target_kb_id else None,
        "created_at": draft.created_at.isoformat(),
        "updated_at": draft.updated_at.isoformat(),
        "data": {
            "name": draft.name,
            "description": draft.description,
            "sources": SourceResponse(sources, many=True).data,
            "chunking_config": draft.chunking_config,
            "embedding_config": draft.embedding_config,
            "vector_store_config": draft.vector_store_config,
            "context_settings": draft.context_settings,
            "processing_status": processing_status,
            "target_kb_id": str(draft.target_kb_id) if draft.target_kb_id else None,
            "expires_at": draft.expires_at.isoformat(),
        },
    }
