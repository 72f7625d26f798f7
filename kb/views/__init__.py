"""Knowledge-base pages: the documents partial, retry, disable / enable and bulk actions, the retrieval-test
panel, settings, delete, the archive export and import. The full KB page (which also lists drafts) is
pages.views.kb_detail."""

from kb.views.bulk import documents_bulk_action
from kb.views.detail import document_enabled, document_retry
from kb.views.manage import kb_delete, kb_settings
from kb.views.portability import kb_export, kb_import
from kb.views.rebuild import rebuild_cancel_view, rebuild_progress
from kb.views.retention import kb_legal_hold, kb_retention, workspace_retention_due
from kb.views.search import kb_search
from kb.views.sharing import kb_sharing, kb_unsharing

__all__ = [
    "document_enabled", "document_retry", "documents_bulk_action", "kb_delete", "kb_export", "kb_import",
    "kb_legal_hold", "kb_retention", "kb_search", "kb_settings", "kb_sharing", "kb_unsharing",
    "rebuild_cancel_view", "rebuild_progress", "workspace_retention_due",
]  # fmt: skip
