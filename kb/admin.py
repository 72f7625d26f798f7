from django.contrib import admin, messages
from django.db import models
from django.db.models import Count, Q
from guardian.admin import GuardedModelAdmin

from kb.models import IN_PROGRESS, UNFINISHED, Chunk, Document, EmbeddingCache, KnowledgeBase
from kb.services import document_reprocess, kb_reindex
from kb.states import stale_cutoff


@admin.register(KnowledgeBase)
class KnowledgeBaseAdmin(GuardedModelAdmin):
    """Object permissions (sharing one KB beyond its workspace) are edited under "Object permissions"."""

    list_display = ("name", "workspace", "document_count", "unfinished_count", "failed_count", "created_at")
    list_filter = ("workspace__organization", "workspace", "language")
    list_select_related = ("workspace__organization",)
    search_fields = ("name", "description", "=id")
    readonly_fields = ("id", "created_at", "updated_at", "created_by")
    actions = ["rebuild_index"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_documents=Count("documents"),
                n_unfinished=Count("documents", filter=Q(documents__status__in=UNFINISHED)),
                n_failed=Count("documents", filter=Q(documents__status__in=["failed", "quarantined"])),
            )
        )

    @admin.display(description="documents", ordering="n_documents")
    def document_count(self, obj):
        return obj.n_documents

    @admin.display(description="processing", ordering="n_unfinished")
    def unfinished_count(self, obj):
        return obj.n_unfinished

    @admin.display(description="failed", ordering="n_failed")
    def failed_count(self, obj):
        return obj.n_failed

    @admin.action(description="Rebuild the index (re-chunk and re-embed every document)")
    def rebuild_index(self, request, queryset):
        total = sum(kb_reindex(kb=kb, user=request.user, request=request) for kb in queryset)
        self.message_user(request, f"{total} document(s) queued for re-indexing.", messages.SUCCESS)


class StuckFilter(admin.SimpleListFilter):
    title = "stuck"
    parameter_name = "stuck"

    def lookups(self, request, model_admin):
        return [("yes", "Worker silent (heartbeat stale)")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(status__in=IN_PROGRESS, heartbeat_at__lt=stale_cutoff())
        return queryset


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = (
        "name",
        "kb",
        "status",
        "progress",
        "attempts",
        "chunk_count",
        "error_code",
        "heartbeat_at",
        "updated_at",
    )
    list_filter = ("status", StuckFilter, "source_type", "file_type", "error_code", "kb__workspace__organization")
    list_select_related = ("kb",)
    search_fields = ("name", "url", "kb__name", "content_hash", "=id")
    raw_id_fields = ("kb",)
    readonly_fields = [
        "id", "status", "progress", "error", "error_code", "attempts", "heartbeat_at", "stage_times", "stats",
        "config_hash", "version", "chunk_count", "token_count", "stored_file", "elements_file", "size_bytes",
        "content_hash", "created_at", "updated_at",
    ]  # fmt: skip
    actions = ["reprocess", "requeue_stuck"]

    @admin.action(description="Reprocess selected documents (reset attempts)")
    def reprocess(self, request, queryset):
        documents = list(queryset.select_related("kb__workspace"))
        for document in documents:
            document_reprocess(document=document, user=request.user, request=request)
        self.message_user(request, f"{len(documents)} document(s) queued again.", messages.SUCCESS)

    @admin.action(description="Requeue selected documents that are stuck (unfinished, worker silent)")
    def requeue_stuck(self, request, queryset):
        stuck = Q(status__in=IN_PROGRESS, heartbeat_at__lt=stale_cutoff()) | Q(status="queued")
        documents = list(queryset.filter(stuck).select_related("kb__workspace"))
        for document in documents:
            document_reprocess(document=document, user=request.user, request=request, reset_attempts=False)
        skipped = queryset.count() - len(documents)
        note = f"; {skipped} skipped (finished, or a worker is still on them)" if skipped else ""
        self.message_user(request, f"{len(documents)} stuck document(s) requeued{note}.", messages.SUCCESS)


@admin.register(Chunk)
class ChunkAdmin(admin.ModelAdmin):
    list_display = ("id", "document", "kb", "index", "version", "token_count", "truncated", "distance_metric")
    list_filter = ("truncated", "distance_metric")
    list_select_related = ("document", "kb")
    search_fields = ("document__name", "=document__id", "content_hash")
    raw_id_fields = ("document", "kb")
    exclude = ("embedding", "embedding_768", "search_vector")
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name not in self.exclude]

    def has_add_permission(self, request):
        return False  # chunks are written by the pipeline only


@admin.register(EmbeddingCache)
class EmbeddingCacheAdmin(admin.ModelAdmin):
    list_display = ("model", "text_hash", "created_at")
    list_filter = ("model",)
    search_fields = ("=text_hash",)
    exclude = ("embedding",)
    readonly_fields = ("model", "text_hash", "created_at")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False
