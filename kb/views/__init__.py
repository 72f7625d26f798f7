"""Knowledge-base pages: detail with documents and the retrieval-test panel, settings, delete, export."""

from kb.views.detail import add_sources, document_retry, kb_detail
from kb.views.manage import kb_delete, kb_export, kb_settings
from kb.views.search import kb_search

__all__ = ["add_sources", "document_retry", "kb_delete", "kb_detail", "kb_export", "kb_search", "kb_settings"]
