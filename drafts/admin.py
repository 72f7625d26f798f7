"""Drafts in the admin: edits and deletes go through drafts.services like every other door; sources come from
uploads, pasted text and crawls only, so they are view-only here."""

from django.contrib import admin
from django.db import models
from django.db.models import Count

from drafts.models import DraftSource, KBDraft, PreviewChunks
from drafts.services import draft_delete, draft_source_remove, draft_update
from kb.configs import check_description, check_name
from privexbot.admin_base import DeleteThroughService, ServiceValidatedForm, ViewOnly, changed_values


class DraftSourceInline(ViewOnly, admin.TabularInline):
    model = DraftSource
    extra = 0
    fields = ("name", "type", "status", "error_code", "size_bytes", "created_at")
    readonly_fields = fields
    show_change_link = True
    can_delete = False  # removing a source is draft_source_remove (its files, the audit event)


class KBDraftForm(ServiceValidatedForm):
    validators = {"name": check_name, "description": check_description}


@admin.register(KBDraft)
class KBDraftAdmin(DeleteThroughService, admin.ModelAdmin):
    """Name and description are editable (draft_update); the rest is set by the wizard and the services."""

    form = KBDraftForm
    list_display = ("name", "workspace", "target_kb", "created_by", "source_count", "updated_at", "expires_at")
    list_filter = ("workspace__organization", "workspace", "expires_at")
    list_select_related = ("workspace__organization", "target_kb", "created_by")
    search_fields = ("name", "description", "created_by__username", "=id")
    readonly_fields = (
        "id", "workspace", "target_kb", "purpose", "sync_run", "created_by",
        "chunking_config", "embedding_config", "vector_store_config",
        "context_settings", "expires_at", "created_at", "updated_at",
    )  # fmt: skip
    inlines = [DraftSourceInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_sources=Count("sources"))

    def has_add_permission(self, request):
        return False  # drafts are started in the wizard or the API (draft_create)

    def save_model(self, request, obj, form, change):
        changes = changed_values(form, ("name", "description"))
        if changes:
            draft_update(draft=obj, user=request.user, request=request, **changes)

    delete_related = ("workspace",)

    def delete_one(self, request, obj):
        draft_delete(draft=obj, user=request.user, request=request)

    @admin.display(description="sources", ordering="n_sources")
    def source_count(self, obj):
        return obj.n_sources


@admin.register(DraftSource)
class DraftSourceAdmin(ViewOnly, DeleteThroughService, admin.ModelAdmin):
    """View-only; delete goes through draft_source_remove (stored files, audit event)."""

    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # the view page builds a form too
    list_display = ("name", "draft", "type", "status", "error_code", "size_bytes", "pages_processed", "created_at")
    list_filter = ("type", "status", "error_code", "file_type")
    list_select_related = ("draft",)
    search_fields = ("name", "url", "draft__name", "content_hash", "=id")

    delete_related = ("draft__workspace",)

    def delete_one(self, request, obj):
        draft_source_remove(draft=obj.draft, source=obj, user=request.user, request=request)


@admin.register(PreviewChunks)
class PreviewChunksAdmin(ViewOnly, admin.ModelAdmin):
    """The chunk-preview cache (drafts.preview_cache): counts only, the chunks are in a sealed file. Never deleted
    here: a row removed without its file would leave the file behind; the cache's own expiry and the source's
    and draft's deletion remove both."""

    list_display = ("source", "config_hash", "model", "complete", "chunk_count", "used_at", "created_at")
    list_filter = ("complete", "model")
    list_select_related = ("source__draft",)
    search_fields = ("=config_hash", "source__name", "=source__id")
    readonly_fields = tuple(f.name for f in PreviewChunks._meta.fields)

    def has_delete_permission(self, request, obj=None):
        return False
