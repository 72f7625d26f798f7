from django.contrib import admin

from privexbot.admin_base import ViewOnly
from privexbot.audit.pseudonyms import Redactions, erased_names, shown_row
from privexbot.models import AuditEvent, DeletionReceipt, StoredBlob, StoredBlobPart


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit trail is evidence: it can be searched and read here, never added to, edited or deleted."""

    list_display = (
        "timestamp",
        "event_type",
        "action",
        "shown_username",
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

    SHOWN = {"username": "shown_username", "details": "shown_details"}

    def get_readonly_fields(self, request, obj=None):
        return [self.SHOWN.get(f.name, f.name) for f in self.model._meta.fields]

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj)  # only these: never the stored username or details too

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self._erased = self._page_redactions = None  # one object's page reads its names fresh
        return super().change_view(request, object_id, form_url, extra_context)

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        self._erased = erased_names({e.user_id for e in changelist.result_list})  # one query per page
        self._page_redactions = Redactions()  # read once per list page, like the names above
        return changelist

    @admin.display(description="username", ordering="username")
    def shown_username(self, obj):
        """An erased user's pseudonym (privexbot.audit.pseudonyms); the stored row keeps what it recorded."""
        names = getattr(self, "_erased", None)
        if names is None or obj.user_id not in names:
            names = erased_names([obj.user_id])
        redactions = getattr(self, "_page_redactions", None) or Redactions()
        return shown_row({"user_id": obj.user_id, "username": obj.username}, names, redactions)["username"]

    @admin.display(description="details")
    def shown_details(self, obj):
        """The details with any value that named an erased account replaced by its pseudonym (read fresh: one
        object's page)."""
        row = {"user_id": obj.user_id, "username": obj.username, "details": obj.details}
        return shown_row(row, erased_names([obj.user_id]), Redactions())["details"]

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
