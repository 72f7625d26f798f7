"""The draft wizard: one URL per step (basics → sources → chunking → embedding → review)."""

from drafts.views.add_to_kb import add_sources, change_settings
from drafts.views.basics import draft_basics, draft_discard, draft_new, draft_resume
from drafts.views.review import finalize, review
from drafts.views.settings_steps import chunking, chunking_preview, embedding
from drafts.views.sources import (
    source_add_files,
    source_add_text,
    source_add_website,
    source_cancel,
    source_remove,
    sources,
)

__all__ = [
    "add_sources", "change_settings", "chunking", "chunking_preview", "draft_basics", "draft_discard", "draft_new",
    "draft_resume", "embedding", "finalize", "review", "source_add_files", "source_add_text", "source_add_website",
    "source_cancel", "source_remove", "sources",
]  # fmt: skip
