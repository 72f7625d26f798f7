"""Shapes of the knowledge-base API."""

from __future__ import annotations

from rest_framework import serializers

from kb.api.rebuilds import Rebuild
from kb.models import DocumentStatus, DuplicatePolicy
from kb.search import MODES
from kb.search.filters import KEYS as FILTER_KEYS
from kb.search.grouping import GROUPINGS, MAX_CHUNKS_PER_DOCUMENT
from kb.search.selector import MAX_TOP_K
from kb.search.types import FUSIONS
from kb.selectors import kb_overall_status
from privexbot.api.serializers import JSONObjectField
from tenants.models import RETENTION_DAYS_MAX, RETENTION_DAYS_MIN, RetentionBasis

MAX_QUERY_CHARS = 1000


class KnowledgeBaseListItem(serializers.Serializer):
    id = serializers.UUIDField()
    workspace_id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField()
    status = serializers.SerializerMethodField()
    document_count = serializers.IntegerField(source="n_documents")
    chunk_count = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_status(self, kb) -> str:
        return kb_overall_status(documents=kb.n_documents, unfinished=kb.n_unfinished, problems=kb.n_problems)

    def get_chunk_count(self, kb) -> int:
        return kb.n_chunks or 0


class StatusSummary(serializers.Serializer):
    status = serializers.CharField()
    documents = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())
    chunks = serializers.IntegerField()
    tokens = serializers.IntegerField()


class KnowledgeBaseFields(serializers.Serializer):
    id = serializers.UUIDField()
    workspace_id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField()
    chunking_config = serializers.DictField()
    embedding_config = serializers.DictField()
    vector_store_config = serializers.DictField()
    context_settings = serializers.DictField()
    language = serializers.CharField()
    duplicate_policy = serializers.ChoiceField(
        choices=DuplicatePolicy.choices, help_text="what adding a file under a name the KB holds does (kb.versions)"
    )
    review_sync_changes = serializers.BooleanField(
        help_text="a website re-sync becomes a draft of the KB showing the changes before they apply"
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class RetentionPolicy(serializers.Serializer):
    days = serializers.IntegerField(
        allow_null=True, help_text="documents are deleted this many days after `basis`; null: kept forever"
    )
    basis = serializers.ChoiceField(choices=RetentionBasis.choices)
    source = serializers.ChoiceField(choices=("knowledge_base", "workspace"), help_text="whose policy applies")


class LegalHold(serializers.Serializer):
    legal_hold = serializers.BooleanField(help_text="while true nothing in the KB is deleted, by retention or anyone")
    by = serializers.CharField(allow_null=True, help_text="who set the hold")
    at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)


class Retention(serializers.Serializer):
    inherit = serializers.BooleanField(help_text="true: the workspace's policy applies")
    retention_days = serializers.IntegerField(allow_null=True, help_text="the KB's own policy (when not inheriting)")
    retention_basis = serializers.ChoiceField(choices=RetentionBasis.choices)
    effective = RetentionPolicy()
    legal_hold = LegalHold()


def kb_retention(kb) -> dict:
    from kb.legal_hold import legal_hold_state
    from kb.retention import effective_policy

    return {
        "inherit": kb.retention_inherit, "retention_days": kb.retention_days, "retention_basis": kb.retention_basis,
        "effective": effective_policy(kb).as_dict(), "legal_hold": legal_hold_state(kb),
    }  # fmt: skip


class KnowledgeBaseDetail(KnowledgeBaseFields):
    summary = StatusSummary(help_text="overall status and counts per document status")
    permissions = serializers.ListField(child=serializers.CharField(), help_text="what you may do with this KB")
    retention = Retention(help_text="retention policy (own and effective) and legal hold")
    generation = serializers.IntegerField(help_text="the index generation search serves (kb.rebuild)")
    rebuild = Rebuild(allow_null=True, help_text="the running index rebuild, else the last one (or null)")


def kb_detail(*, kb, summary: dict, permissions) -> dict:
    from kb.rebuild import rebuild_latest, rebuild_summary

    return {
        **KnowledgeBaseFields(kb).data, "summary": summary, "permissions": sorted(permissions),
        "retention": kb_retention(kb), "generation": kb.generation, "rebuild": rebuild_summary(rebuild_latest(kb)),
    }  # fmt: skip


class KnowledgeBaseUpdate(serializers.Serializer):
    name = serializers.CharField(min_length=1, max_length=255, required=False)
    description = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    context_settings = JSONObjectField(required=False, help_text="settings chatbots use when querying this KB")
    duplicate_policy = serializers.ChoiceField(
        choices=DuplicatePolicy.choices, required=False,
        help_text="version: skip identical files, replace changed ones; skip: skip any file whose name is there; "
        "keep_both: always add",
    )  # fmt: skip
    review_sync_changes = serializers.BooleanField(
        required=False, help_text="true: a website re-sync waits as a draft of the KB until its changes are reviewed"
    )
    # Retention (owners and admins of the workspace): giving days or basis sets the KB's own policy.
    retention_days = serializers.IntegerField(
        min_value=RETENTION_DAYS_MIN, max_value=RETENTION_DAYS_MAX, allow_null=True, required=False,
        help_text="delete documents this many days after retention_basis; null: keep forever",
    )  # fmt: skip
    retention_basis = serializers.ChoiceField(choices=RetentionBasis.choices, required=False)
    retention_inherit = serializers.BooleanField(required=False, help_text="true: follow the workspace's policy")


RETENTION_FIELDS = {"retention_days": "days", "retention_basis": "basis", "retention_inherit": "inherit"}


class LegalHoldRequest(serializers.Serializer):
    reason = serializers.CharField(max_length=500, help_text="why the KB is held (recorded in the audit log)")


class RetentionDue(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    due_at = serializers.DateTimeField(help_text="when the policy makes it due; deleted by the first run after")
    overdue = serializers.BooleanField(help_text="due already: the next run deletes it (unless held)")


class RetentionPreview(serializers.Serializer):
    policy = RetentionPolicy(help_text="the effective policy")
    own_policy = serializers.DictField(help_text="the KB's own settings: inherit, retention_days, retention_basis")
    legal_hold = serializers.BooleanField(help_text="true: the run deletes nothing here")
    next_run_at = serializers.DateTimeField()
    overdue = serializers.IntegerField(help_text="documents due now")
    upcoming = RetentionDue(many=True, help_text="the next documents due, soonest first")


class VersionEntry(serializers.Serializer):
    name = serializers.CharField()
    outcome = serializers.ChoiceField(choices=("added", "replaced", "skipped"))
    reason = serializers.CharField(help_text="why it was skipped: identical, name_exists")
    document_id = serializers.UUIDField(allow_null=True, help_text="the new document (added, replaced)")
    file_version = serializers.IntegerField(allow_null=True)
    existing_document_id = serializers.UUIDField(
        allow_null=True, help_text="the version it replaces (deleted once the new one is ready) or matched (skipped)"
    )


class VersionReport(serializers.Serializer):
    """What adding files did under the KB's duplicate_policy (kb.versions)."""

    added = serializers.IntegerField()
    replaced = serializers.IntegerField()
    skipped = serializers.IntegerField()
    documents = VersionEntry(many=True)


class DocumentSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    source_type = serializers.CharField()
    url = serializers.CharField()
    file_type = serializers.CharField()
    size_bytes = serializers.IntegerField()
    status = serializers.ChoiceField(choices=DocumentStatus.choices)
    progress = serializers.IntegerField(help_text="0-100")
    error = serializers.CharField()
    error_code = serializers.CharField()
    attempts = serializers.IntegerField()
    stage_times = serializers.DictField(help_text="stage -> ISO time it started")
    chunk_count = serializers.IntegerField()
    token_count = serializers.IntegerField()
    version = serializers.IntegerField()
    enabled = serializers.BooleanField(help_text="false: disabled, kept with its chunks but left out of search")
    file_version = serializers.IntegerField(help_text="version of the file under its name (kb.versions)")
    replaces_id = serializers.UUIDField(
        allow_null=True, help_text="the earlier version this one replaces once ready (null after the switch)"
    )
    metadata = serializers.DictField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class DocumentDetail(DocumentSerializer):
    heartbeat_at = serializers.DateTimeField(allow_null=True)
    stats = serializers.DictField(help_text="timings, cache hits and counts of the last run")
    config_hash = serializers.CharField()
    content_hash = serializers.CharField()


class DocumentUpdate(serializers.Serializer):
    enabled = serializers.BooleanField(
        help_text="false: disable (kept with its chunks, left out of search); true: back in search at once, "
        "nothing re-embedded"
    )


class ChunkSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    document_id = serializers.UUIDField()
    index = serializers.IntegerField()
    context = serializers.CharField(help_text="title > heading path: embedded and keyword-indexed with the content")
    content = serializers.CharField()
    token_count = serializers.IntegerField()
    word_count = serializers.IntegerField()
    char_count = serializers.IntegerField()
    truncated = serializers.BooleanField()
    metadata = serializers.DictField()


class SearchRequest(serializers.Serializer):
    query = serializers.CharField(max_length=MAX_QUERY_CHARS)
    top_k = serializers.IntegerField(min_value=1, max_value=MAX_TOP_K, default=10)
    mode = serializers.ChoiceField(choices=MODES, default="hybrid")
    filters = JSONObjectField(required=False, help_text=f"any of: {', '.join(FILTER_KEYS)}")
    score_threshold = serializers.FloatField(required=False, allow_null=True)
    fusion = serializers.ChoiceField(choices=FUSIONS, required=False, allow_null=True, default=None)
    vector_weight = serializers.FloatField(min_value=0.0, max_value=1.0, required=False, allow_null=True)
    page_weight = serializers.FloatField(
        min_value=0.0, max_value=1.0, required=False, allow_null=True,
        help_text="hybrid: share of each result's page evidence (BM25 over its whole document); default: "
        "SEARCH_TERM_PAGE_WEIGHT for a term-like query, 0 for a question",
    )  # fmt: skip
    group_by = serializers.ChoiceField(
        choices=GROUPINGS, default="chunk",
        help_text="chunk: ranked chunks; document: top_k distinct documents, each as its best chunk",
    )  # fmt: skip
    chunks_per_document = serializers.IntegerField(
        min_value=1, max_value=MAX_CHUNKS_PER_DOCUMENT, default=1,
        help_text="group_by=document: also return up to this many - 1 other matching chunks of each document",
    )  # fmt: skip

    def validate_filters(self, value):
        if unknown := sorted(set(value) - set(FILTER_KEYS)):
            raise serializers.ValidationError(f"unknown filter {unknown[0]!r}; known: {', '.join(FILTER_KEYS)}")
        return value


class DocumentChunkHit(serializers.Serializer):
    rank = serializers.IntegerField(help_text="place among the document's other matching chunks (1 = after the best)")
    score = serializers.FloatField()
    chunk_id = serializers.IntegerField()
    context = serializers.CharField(help_text="title > heading path: embedded and keyword-indexed with the content")
    content = serializers.CharField()
    page = serializers.IntegerField(allow_null=True)
    heading_path = serializers.ListField(child=serializers.CharField())
    metadata = serializers.DictField()
    vector_rank = serializers.IntegerField(allow_null=True)
    vector_score = serializers.FloatField(allow_null=True)
    keyword_rank = serializers.IntegerField(allow_null=True)
    keyword_score = serializers.FloatField(allow_null=True)
    page_rank = serializers.IntegerField(allow_null=True)
    page_score = serializers.FloatField(allow_null=True)


class SearchHit(serializers.Serializer):
    rank = serializers.IntegerField()
    score = serializers.FloatField(help_text="the mode's score: fused for hybrid")
    chunk_id = serializers.IntegerField()
    context = serializers.CharField(help_text="title > heading path: embedded and keyword-indexed with the content")
    content = serializers.CharField()
    document_id = serializers.UUIDField()
    document_name = serializers.CharField()
    document_url = serializers.CharField()
    source_type = serializers.CharField()
    page = serializers.IntegerField(allow_null=True)
    heading_path = serializers.ListField(child=serializers.CharField())
    metadata = serializers.DictField()
    vector_rank = serializers.IntegerField(allow_null=True)
    vector_score = serializers.FloatField(allow_null=True)
    vector_distance = serializers.FloatField(allow_null=True)
    keyword_rank = serializers.IntegerField(allow_null=True)
    keyword_score = serializers.FloatField(allow_null=True)
    page_rank = serializers.IntegerField(
        allow_null=True, help_text="hybrid with page evidence: the rank of this chunk's document by BM25 over pages"
    )
    page_score = serializers.FloatField(allow_null=True)
    document_chunks = DocumentChunkHit(
        many=True, help_text="group_by=document: the document's other matching chunks, best first (else empty)"
    )


class SearchResponse(serializers.Serializer):
    query = serializers.CharField()
    mode = serializers.CharField()
    top_k = serializers.IntegerField()
    group_by = serializers.CharField()
    results = SearchHit(many=True)
    took_ms = serializers.FloatField()
