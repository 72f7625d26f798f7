from django.urls import path

from kb import views

# The full KB page and "add sources" combine kb with drafts: pages.urls adds them to this namespace.

app_name = "kb"
urlpatterns = [
    path("<uuid:kb_id>/search/", views.kb_search, name="search"),
    path("<uuid:kb_id>/documents/<uuid:document_id>/retry/", views.document_retry, name="document_retry"),
    path("<uuid:kb_id>/settings/", views.kb_settings, name="settings"),
    path("<uuid:kb_id>/sharing/", views.kb_sharing, name="sharing"),
    path("<uuid:kb_id>/sharing/<int:user_id>/revoke/", views.kb_unsharing, name="unshare"),
    path("<uuid:kb_id>/delete/", views.kb_delete, name="delete"),
    path("<uuid:kb_id>/export.json", views.kb_export, name="export"),
]
