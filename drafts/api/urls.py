"""The design guide's draft routes, written as its clients call them (no trailing slash after an id); the other
form answers too (privexbot.api.routes)."""

from drafts.api import views
from privexbot.api.routes import path  # the trailing slash is optional on every API route

urlpatterns = [
    path("", views.DraftCreateView.as_view(), name="api-draft-create"),
    path("<uuid:draft_id>", views.DraftDetailView.as_view(), name="api-draft"),
    path("<uuid:draft_id>/sources/upload", views.FileSourceView.as_view(), name="api-draft-upload"),
    path("<uuid:draft_id>/sources/website", views.WebsiteSourceView.as_view(), name="api-draft-website"),
    path("<uuid:draft_id>/sources/text", views.TextSourceView.as_view(), name="api-draft-text"),
    path("<uuid:draft_id>/sources", views.SourceListView.as_view(), name="api-draft-sources"),
    path("<uuid:draft_id>/sources/<uuid:source_id>", views.SourceDetailView.as_view(), name="api-draft-source"),
    path("<uuid:draft_id>/preview-chunks", views.PreviewChunksView.as_view(), name="api-draft-preview"),
    path("<uuid:draft_id>/validate", views.ValidateDraftView.as_view(), name="api-draft-validate"),
    path("<uuid:draft_id>/finalize", views.FinalizeDraftView.as_view(), name="api-draft-finalize"),
    path("<uuid:draft_id>/config", views.DraftConfigView.as_view(), name="api-draft-config"),
]
