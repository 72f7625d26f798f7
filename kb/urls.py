from django.urls import path

from kb import views
from kb.views import receipts

# The full KB page and "add sources" combine kb with drafts: pages.urls adds them to this namespace.

app_name = "kb"
urlpatterns = [
    path("<uuid:kb_id>/search/", views.kb_search, name="search"),
    path("<uuid:kb_id>/documents/<uuid:document_id>/retry/", views.document_retry, name="document_retry"),
    path("<uuid:kb_id>/documents/<uuid:document_id>/enabled/", views.document_enabled, name="document_enabled"),
    path("<uuid:kb_id>/documents/bulk/", views.documents_bulk_action, name="documents_bulk"),
    path("<uuid:kb_id>/settings/", views.kb_settings, name="settings"),
    path("<uuid:kb_id>/settings/retention/", views.kb_retention, name="retention"),
    path("<uuid:kb_id>/settings/legal-hold/", views.kb_legal_hold, name="legal_hold"),
    # A fragment of the workspace page (tenants cannot import kb: the page loads it by URL).
    path("workspaces/<uuid:workspace_id>/retention/", views.workspace_retention_due, name="workspace_retention_due"),
    path("<uuid:kb_id>/sharing/", views.kb_sharing, name="sharing"),
    path("<uuid:kb_id>/sharing/<int:user_id>/revoke/", views.kb_unsharing, name="unshare"),
    path("<uuid:kb_id>/delete/", views.kb_delete, name="delete"),
    path("<uuid:kb_id>/export/", views.kb_export, name="export"),  # the archive (kb.portability)
    path("<uuid:kb_id>/rebuild/", views.rebuild_progress, name="rebuild_progress"),  # kb.rebuild's panel
    path("<uuid:kb_id>/rebuild/<uuid:rebuild_id>/cancel/", views.rebuild_cancel_view, name="rebuild_cancel"),
    path("import/", views.kb_import, name="import"),
    path("receipts/<uuid:receipt_id>/", receipts.receipt_detail, name="receipt"),
    path("receipts/<uuid:receipt_id>.json", receipts.receipt_download, name="receipt_download"),
    path("workspaces/<uuid:workspace_id>/deletion-receipts/", receipts.receipt_list, name="receipts"),
]
