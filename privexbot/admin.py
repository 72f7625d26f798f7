from django.contrib import admin

from privexbot.admin_base import ViewOnly
from privexbot.models import AuditEvent, DeletionReceipt, StoredBlob, StoredBlobPart


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit trail is evidence: it can be searched and read here, never added to, edited or deleted."""

    list_display = (
        "timestamp",
        "event_type",
        "action",
        "username",
        "resource_type",
        "resource_id",
        "success",
        "ip_address",
    )
    list_filter = ("event_type", "action", "success", "resource_type", "timestamp")
    search_fields = ("username", "resource_id", "ip_address", "=workspace_id", "=organization_id")
    date_hierarchy = "timestamp"
    list_per_page = 100
    show_full_result_count = False  # counting a large audit table on every page is slow

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class StoredBlobAdmin(ViewOnly, admin.ModelAdmin):
    """Stored files of STORAGE_BACKEND=database: names and sizes only (the bytes are ciphertext). They are written
    and deleted by the services that own their documents and drafts, never here."""

    list_display = ("name", "size", "parts", "created_at")
    search_fields = ("=name",)
    date_hierarchy = "created_at"
    fields = list_display

    def has_delete_permission(self, request, obj=None):
        return False


class StoredBlobPartAdmin(ViewOnly, admin.ModelAdmin):
    """Registered for completeness; lists which parts exist, never their bytes."""

    list_display = ("blob", "index")
    fields = ("blob", "index")

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.register(StoredBlob, StoredBlobAdmin)
admin.site.register(StoredBlobPart, StoredBlobPartAdmin)


@admin.register(DeletionReceipt)
class DeletionReceiptAdmin(ViewOnly, admin.ModelAdmin):
    """Signed proof of deletions (kb.deletion): read here, never edited (that would void the signature) or
    deleted (a receipt outlives what it describes, like the audit log)."""

    list_display = ("created_at", "scope", "reason", "workspace_id", "id")
    list_filter = ("scope", "reason", "created_at")
    search_fields = ("=id", "=workspace_id", "=organization_id")
    date_hierarchy = "created_at"
    fields = ("id", "created_at", "scope", "reason", "organization_id", "workspace_id", "body", "signature")

    def has_delete_permission(self, request, obj=None):
        return False
