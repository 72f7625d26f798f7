from django.contrib import admin
from django.db import models
from django.db.models import Count

from drafts.models import DraftSource, KBDraft


class DraftSourceInline(admin.TabularInline):
    model = DraftSource
    extra = 0
    fields = ("name", "type", "status", "error_code", "size_bytes", "created_at")
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(KBDraft)
class KBDraftAdmin(admin.ModelAdmin):
    list_display = ("name", "workspace", "target_kb", "created_by", "source_count", "updated_at", "expires_at")
    list_filter = ("workspace__organization", "workspace", "expires_at")
    list_select_related = ("workspace__organization", "target_kb", "created_by")
    search_fields = ("name", "description", "created_by__username", "=id")
    raw_id_fields = ("target_kb", "created_by")
    readonly_fields = ("id", "created_at", "updated_at")
    inlines = [DraftSourceInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_sources=Count("sources"))

    @admin.display(description="sources", ordering="n_sources")
    def source_count(self, obj):
        return obj.n_sources


@admin.register(DraftSource)
class DraftSourceAdmin(admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ("name", "draft", "type", "status", "error_code", "size_bytes", "pages_processed", "created_at")
    list_filter = ("type", "status", "error_code", "file_type")
    list_select_related = ("draft",)
    search_fields = ("name", "url", "draft__name", "content_hash", "=id")
    raw_id_fields = ("draft",)
    readonly_fields = (
        "id", "status", "error", "error_code", "stored_file", "elements_file", "content_hash", "size_bytes",
        "crawl_report", "pages_found", "pages_processed", "created_at", "updated_at",
    )  # fmt: skip
