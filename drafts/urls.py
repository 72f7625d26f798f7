from django.urls import path

from drafts import views
from drafts.views import sync as sync_views

app_name = "drafts"
urlpatterns = [
    path("new/", views.draft_new, name="new"),
    path("<uuid:draft_id>/", views.draft_resume, name="resume"),
    path("<uuid:draft_id>/basics/", views.draft_basics, name="basics"),
    path("<uuid:draft_id>/sources/", views.sources, name="sources"),
    path("<uuid:draft_id>/sources/files/", views.source_add_files, name="add_files"),
    path("<uuid:draft_id>/sources/text/", views.source_add_text, name="add_text"),
    path("<uuid:draft_id>/sources/website/", views.source_add_website, name="add_website"),
    path("<uuid:draft_id>/sources/<uuid:source_id>/remove/", views.source_remove, name="remove_source"),
    path("<uuid:draft_id>/sources/<uuid:source_id>/cancel/", views.source_cancel, name="cancel_source"),
    path("<uuid:draft_id>/chunking/", views.chunking, name="chunking"),
    path("<uuid:draft_id>/chunking/preview/", views.chunking_preview, name="chunking_preview"),
    path("<uuid:draft_id>/embedding/", views.embedding, name="embedding"),
    path("<uuid:draft_id>/review/", views.review, name="review"),
    path("<uuid:draft_id>/finalize/", views.finalize, name="finalize"),
    path("<uuid:draft_id>/discard/", views.draft_discard, name="discard"),
    # Website re-syncs, posted from the KB page (templates/kb/_website_sources.html)
    path("kb/<uuid:kb_id>/website-sources/<uuid:source_id>/sync/", sync_views.website_source_sync, name="sync_now"),
    path(
        "kb/<uuid:kb_id>/website-sources/<uuid:source_id>/settings/",
        sync_views.website_source_settings,
        name="sync_settings",
    ),
    path("kb/<uuid:kb_id>/review-sync/", sync_views.kb_review_sync, name="sync_review_setting"),
    path("kb/<uuid:kb_id>/documents/resync/", sync_views.documents_resync_action, name="sync_documents"),
]
