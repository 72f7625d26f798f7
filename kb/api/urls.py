from kb.api import portability, rebuilds, views
from privexbot.api.routes import path  # the trailing slash is optional on every API route

urlpatterns = [
    path("", views.KnowledgeBaseListView.as_view(), name="api-kbs"),
    path("import", portability.ImportView.as_view(), name="api-kb-import"),
    path("<uuid:kb_id>/", views.KnowledgeBaseDetailView.as_view(), name="api-kb"),
    path("<uuid:kb_id>/documents/", views.DocumentListView.as_view(), name="api-kb-documents"),
    path("<uuid:kb_id>/documents/<uuid:document_id>/", views.DocumentDetailView.as_view(), name="api-kb-document"),
    path(
        "<uuid:kb_id>/documents/<uuid:document_id>/reprocess",
        views.DocumentReprocessView.as_view(),
        name="api-kb-document-reprocess",
    ),
    path("<uuid:kb_id>/chunks/", views.ChunkListView.as_view(), name="api-kb-chunks"),
    path("<uuid:kb_id>/search", views.SearchView.as_view(), name="api-kb-search"),
    path("<uuid:kb_id>/legal-hold", views.LegalHoldView.as_view(), name="api-kb-legal-hold"),
    path("<uuid:kb_id>/retention", views.RetentionPreviewView.as_view(), name="api-kb-retention"),
    path("<uuid:kb_id>/export", portability.ExportView.as_view(), name="api-kb-export"),
    path("<uuid:kb_id>/rebuilds", rebuilds.RebuildListView.as_view(), name="api-kb-rebuilds"),
    path("<uuid:kb_id>/rebuilds/<uuid:rebuild_id>", rebuilds.RebuildDetailView.as_view(), name="api-kb-rebuild"),
    path(
        "<uuid:kb_id>/rebuilds/<uuid:rebuild_id>/cancel",
        rebuilds.RebuildCancelView.as_view(),
        name="api-kb-rebuild-cancel",
    ),
]
