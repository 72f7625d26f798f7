"""The admin is one more door: deletes, edits and actions go through kb.services like the API and the pages.

Fields only the services or the pipeline may write are read-only; documents, chunks and cache rows are
view-only (the pipeline owns them)."""

from django.contrib import admin, messages
from django.db import models
from django.db.models import Count, Q
from guardian.admin import GuardedModelAdmin

from kb.configs import CONFIG_VALIDATORS, check_description, check_name
from kb.models import (
    IN_PROGRESS,
    UNFINISHED,
    Chunk,
    Document,
    EmbeddingCache,
    KBRebuild,
    KnowledgeBase,
    SyncRun,
    WebsiteSource,
)
from kb.services import (
    document_delete,
    document_reprocess,
    documents_set_enabled,
    kb_create,
    kb_delete,
    kb_reindex,
    kb_update,
)
from kb.states import stale_cutoff
from privexbot.admin_base import DeleteThroughService, ServiceValidatedForm, ViewOnly, changed_values
from privexbot.errors import ServiceError


class KnowledgeBaseForm(ServiceValidatedForm):
    # the services' own validators (configs only matter on the add form: on change they are read-only)
    validators = {"name": check_name, "description": check_description, **CONFIG_VALIDATORS}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "duplicate_policy" in self.fields:  # left out of a post: the model default on add, unchanged on change
            self.fields["duplicate_policy"].required = False


class PipelineOwnedChildrenMixin:
    """Deleting a KB or a document removes its chunks by cascade inside the service; chunks themselves have no
    delete permission in the admin, which must not block deleting their parent."""

    def get_deleted_objects(self, objs, request):
        to_delete, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed.discard(Chunk._meta.verbose_name)
        return to_delete, model_count, perms_needed, protected


@admin.register(KnowledgeBase)
class KnowledgeBaseAdmin(DeleteThroughService, PipelineOwnedChildrenMixin, GuardedModelAdmin):
    """Object permissions (sharing one KB beyond its workspace) are edited under "Object permissions".
    Configs are set when the KB is created; changing them afterwards needs re-indexing, which the admin does not
    offer, so they are read-only on change."""

    form = KnowledgeBaseForm
    list_display = ("name", "workspace", "document_count", "unfinished_count", "failed_count", "created_at")
    list_filter = ("workspace__organization", "workspace", "language")
    list_select_related = ("workspace__organization",)
    search_fields = ("name", "description", "=id")
    actions = ["rebuild_index"]
    # kb_create does not take a language, so it is the model default on add as well.
    always_read_only = ("id", "created_at", "updated_at", "created_by", "language")
    # Retention and legal hold change only through kb.retention / kb.legal_hold (role checks, before/after audit):
    # the settings page and the API.
    always_read_only += ("retention_inherit", "retention_days", "retention_basis", "legal_hold", "legal_hold_by",
                         "legal_hold_at", "legal_hold_reason")  # fmt: skip
    # The serving generation moves only with a rebuild's switch (kb.rebuild); the review-before-sync setting is
    # audited by drafts.sync (the KB page and the API).
    always_read_only += ("generation", "review_sync_changes")
    read_only_on_change = ("workspace", "chunking_config", "embedding_config", "vector_store_config")

    def get_readonly_fields(self, request, obj=None):
        return self.always_read_only + (self.read_only_on_change if obj is not None else ())

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

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            changes = changed_values(form, ("name", "description", "context_settings", "duplicate_policy"))
            if not changes.get("duplicate_policy", True):
                del changes["duplicate_policy"]
            kb_update(kb=obj, user=request.user, request=request, **changes)
            return
        kb = kb_create(
            workspace=data["workspace"], user=request.user, request=request, name=data["name"],
            description=data.get("description", ""), chunking_config=data["chunking_config"],
            embedding_config=data["embedding_config"], vector_store_config=data["vector_store_config"],
            context_settings=data.get("context_settings") or {}, duplicate_policy=data.get("duplicate_policy") or None,
        )  # fmt: skip
        # The admin goes on with the object it passed in (change message, log entry, redirect): make it the KB.
        for field in obj._meta.concrete_fields:
            setattr(obj, field.attname, getattr(kb, field.attname))
        obj._state.adding, obj._state.db = False, kb._state.db

    delete_related = ("workspace",)

    def delete_one(self, request, obj):
        kb_delete(kb=obj, user=request.user, request=request, reason="admin")

    @admin.display(description="documents", ordering="n_documents")
    def document_count(self, obj):
        return obj.n_documents

    @admin.display(description="processing", ordering="n_unfinished")
    def unfinished_count(self, obj):
        return obj.n_unfinished

    @admin.display(description="failed", ordering="n_failed")
    def failed_count(self, obj):
        return obj.n_failed

    @admin.action(description="Rebuild the index (re-chunk and re-embed every document)", permissions=["change"])
    def rebuild_index(self, request, queryset):
        queued = busy = 0
        refused = []
        for kb in queryset.select_related("workspace"):
            try:
                n = kb_reindex(kb=kb, user=request.user, request=request)
            except ServiceError as exc:
                refused.append(f"{kb.name}: {exc.message}")
                continue
            queued += n
            busy += kb.documents.count() - n
        note = f"; {busy} left to finish first (a worker is on them)" if busy else ""
        if refused:
            self.message_user(
                request, f"{queued} document(s) queued{note}; {len(refused)} KB(s) refused: {refused[0]}",
                messages.WARNING,
            )  # fmt: skip
        else:
            self.message_user(request, f"{queued} document(s) queued for re-indexing{note}.", messages.SUCCESS)


class StuckFilter(admin.SimpleListFilter):
    title = "stuck"
    parameter_name = "stuck"

    def lookups(self, request, model_admin):
        return [("yes", "Worker silent (heartbeat stale)")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(status__in=IN_PROGRESS, heartbeat_at__lt=stale_cutoff())
        return queryset


def reprocess_each(request, documents, **kwargs) -> tuple[int, list[str]]:
    """document_reprocess for each; a refusal (a live worker is on it) is counted, not raised."""
    queued, refused = 0, []
    for document in documents:
        try:
            document_reprocess(document=document, user=request.user, request=request, **kwargs)
        except ServiceError as exc:
            refused.append(exc.message)
        else:
            queued += 1
    return queued, refused


@admin.register(Document)
class DocumentAdmin(ViewOnly, DeleteThroughService, PipelineOwnedChildrenMixin, admin.ModelAdmin):
    """View-only: documents come from uploads and drafts and change only through the pipeline and the services
    (moving `kb` would leave its chunks in the old KB). Delete and the actions go through kb.services."""

    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # the view page builds a form too
    list_display = (
        "name",
        "kb",
        "status",
        "progress",
        "attempts",
        "chunk_count",
        "enabled",
        "error_code",
        "heartbeat_at",
        "updated_at",
    )
    list_filter = (
        "status", StuckFilter, "enabled", "source_type", "file_type", "error_code", "kb__workspace__organization",
    )  # fmt: skip
    list_select_related = ("kb",)
    search_fields = ("name", "url", "kb__name", "content_hash", "=id")
    actions = ["reprocess", "requeue_stuck", "disable", "enable"]

    delete_related = ("kb__workspace",)

    def delete_one(self, request, obj):
        document_delete(document=obj, user=request.user, request=request, reason="admin")

    def _report(self, request, queued: int, refused: list[str], done: str, note: str = "") -> None:
        if refused:
            self.message_user(request, f"{queued} queued, {len(refused)} refused: {refused[0]}{note}", messages.WARNING)
        else:
            self.message_user(request, f"{queued} {done}{note}.", messages.SUCCESS)

    def has_reprocess_permission(self, request):
        # Documents are view-only here, but queueing them again is what the change permission grants.
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    @admin.action(description="Reprocess selected documents (reset attempts)", permissions=["reprocess"])
    def reprocess(self, request, queryset):
        queued, refused = reprocess_each(request, queryset.select_related("kb__workspace"))
        self._report(request, queued, refused, "document(s) queued again")

    @admin.action(
        description="Requeue selected documents that are stuck (unfinished, worker silent)", permissions=["reprocess"]
    )
    def requeue_stuck(self, request, queryset):
        stuck = Q(status__in=IN_PROGRESS, heartbeat_at__lt=stale_cutoff()) | Q(status="queued")
        documents = list(queryset.filter(stuck).select_related("kb__workspace"))
        queued, refused = reprocess_each(request, documents, reset_attempts=False)
        skipped = queryset.count() - len(documents)
        note = f"; {skipped} skipped (finished, or a worker is still on them)" if skipped else ""
        self._report(request, queued, refused, "stuck document(s) requeued", note)

    def _set_enabled(self, request, queryset, *, enabled: bool) -> None:
        changed = 0
        for kb in KnowledgeBase.objects.filter(pk__in=queryset.values("kb_id")).select_related("workspace"):
            ids = queryset.filter(kb=kb).values_list("pk", flat=True)
            changed += documents_set_enabled(
                kb=kb, document_ids=ids, enabled=enabled, user=request.user, request=request
            )
        state = "enabled (back in search)" if enabled else "disabled (kept, left out of search)"
        self.message_user(request, f"{changed} document(s) {state}; {queryset.count() - changed} already were.")

    @admin.action(
        description="Disable selected documents (keep them, leave them out of search)", permissions=["reprocess"]
    )
    def disable(self, request, queryset):
        self._set_enabled(request, queryset, enabled=False)

    @admin.action(description="Enable selected documents (back in search)", permissions=["reprocess"])
    def enable(self, request, queryset):
        self._set_enabled(request, queryset, enabled=True)


@admin.register(Chunk)
class ChunkAdmin(ViewOnly, admin.ModelAdmin):
    """View-only: chunks are written and replaced by the pipeline; deleting one would leave the document's
    chunk and token counts wrong. They go with their document or KB."""

    list_display = ("id", "document", "kb", "index", "version", "token_count", "truncated", "distance_metric")
    list_filter = ("truncated", "distance_metric")
    list_select_related = ("document", "kb")
    search_fields = ("document__name", "=document__id", "content_hash")
    raw_id_fields = ("document", "kb")
    exclude = ("embedding", "embedding_768", "search_vector")
    show_full_result_count = False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(EmbeddingCache)
class EmbeddingCacheAdmin(ViewOnly, admin.ModelAdmin):
    """View-only. Deleting rows stays allowed: the cache is keyed by (model, text hash), so a deleted row only
    means that text is embedded again the next time it is seen."""

    list_display = ("model", "text_hash", "created_at")
    list_filter = ("model",)
    search_fields = ("=text_hash",)
    exclude = ("embedding",)
    show_full_result_count = False


@admin.register(WebsiteSource)
class WebsiteSourceAdmin(ViewOnly, admin.ModelAdmin):
    """View-only: a website source is created by a draft's finalize and changed (schedule, removed-pages policy)
    through drafts.sync, which audits it: the KB page, the API and `sync_website`."""

    list_display = ("url", "kb", "schedule", "removed_pages", "last_synced_at", "next_sync_at")
    list_filter = ("schedule", "removed_pages")
    list_select_related = ("kb",)
    search_fields = ("url", "kb__name", "=id")
    raw_id_fields = ("kb", "created_by")

    def has_delete_permission(self, request, obj=None):
        return False  # it goes with its KB; its pages are documents, deleted through kb.deletion


@admin.register(SyncRun)
class SyncRunAdmin(ViewOnly, admin.ModelAdmin):
    """View-only: the report of one re-sync, written by its worker."""

    list_display = ("website_source", "kb", "status", "trigger", "created_at", "finished_at")
    list_filter = ("status", "trigger")
    list_select_related = ("website_source", "kb")
    search_fields = ("website_source__url", "kb__name", "=id")
    raw_id_fields = ("website_source", "kb", "created_by")

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(KBRebuild)
class KBRebuildAdmin(ViewOnly, admin.ModelAdmin):
    """View-only: a rebuild is started from a settings draft (the KB page, the API, `kb_rebuild`) and moved by its
    worker's state machine (kb.rebuild); cancelling is on the KB page."""

    list_display = ("kb", "generation", "status", "documents_done", "documents_total", "documents_failed",
                    "created_at", "finished_at")  # fmt: skip
    list_filter = ("status",)
    list_select_related = ("kb",)
    search_fields = ("kb__name", "=id")
    raw_id_fields = ("kb", "created_by")

    def has_delete_permission(self, request, obj=None):
        return False
