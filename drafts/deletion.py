"""Drafts' part of a KB's secure deletion (kb.deletion sends `kb_deleting`; kb cannot import drafts).

A draft that adds sources to a KB holds uploads, parsed elements and crawl reports of content meant for that KB:
the rows would go with the KB by cascade, but their stored files would stay. The drafts are deleted here, inside
the deletion's transaction, and their files handed back to be hashed for the receipt and shredded after commit.
"""

from __future__ import annotations

from drafts.models import DraftSource, KBDraft
from drafts.preview_cache import preview_files
from kb.deletion import DerivedCopies


def on_kb_deleting(sender, *, kb, **kwargs) -> DerivedCopies:
    drafts = KBDraft.objects.filter(target_kb=kb)
    sources = DraftSource.objects.filter(draft__in=drafts)
    # A running parse or crawl of one of these sources sees its row gone and stops (drafts.processing).
    sources.update(cancel_requested=True)
    files = [f for pair in sources.values_list("stored_file", "elements_file") for f in pair if f]
    files += preview_files(sources=sources)  # the preview's cached chunks of these sources
    crawl_reports = sources.exclude(crawl_report=[]).count()
    source_count = sources.count()
    draft_count = drafts.count()
    drafts.delete()
    return DerivedCopies(
        store="draft_sources",
        rows=source_count,
        files=files,
        extra_counts={"drafts": draft_count, "crawl_reports": crawl_reports},
    )
