"""Bulk actions on a KB's documents (the KB page's selection, or every document matching its filter): each one
goes through the service that does it for one document, so every rule still holds — retry only of failed or
quarantined documents (kb.services.document_retry), deletion through kb.deletion (legal hold, a signed receipt),
disable / enable through kb.services.documents_set_enabled. One audit event for the action itself (what was
asked, how many, what happened) besides the services' per-document events; metrics per action and outcome."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from kb.deletion import delete_documents
from kb.models import KnowledgeBase
from kb.services import SUPERSEDED, document_retry, documents_set_enabled
from privexbot.audit import audit_record
from privexbot.errors import ServiceError
from privexbot.metrics.definitions import DOCUMENT_BULK_ACTIONS, DOCUMENT_BULK_DOCUMENTS

ACTIONS = {"retry": "Retry", "disable": "Disable", "enable": "Enable", "delete": "Delete"}
MAX_REFUSALS_KEPT = 5  # messages shown; the count says the rest


@dataclass
class BulkResult:
    action: str
    requested: int
    done: int = 0
    unchanged: int = 0  # already in the asked state (enable / disable)
    refused: int = 0
    messages: list[str] = field(default_factory=list)  # the first refusals, for the person who asked
    receipt: object | None = None  # delete: the signed deletion receipt
    sources: int = 0  # resync (drafts.sync.bulk): website sources whose re-sync was queued


def _retry(result: BulkResult, documents, *, user, request) -> None:
    for document in documents:
        try:
            document_retry(document=document, user=user, request=request)
        except ServiceError as exc:  # e.g. not failed: the others still go
            result.refused += 1
            if len(result.messages) < MAX_REFUSALS_KEPT:
                result.messages.append(exc.message)
        else:
            result.done += 1


def _delete(result: BulkResult, documents, *, user, request) -> None:
    if not documents:
        return
    try:
        result.receipt = delete_documents(documents=documents, user=user, request=request, reason="user")
    except ServiceError as exc:  # a legal hold: nothing was deleted
        result.refused = len(documents)
        result.messages.append(exc.message)
    else:
        result.done = len(documents)


def documents_bulk(*, kb: KnowledgeBase, action: str, documents, user, request=None, scope: str = "") -> BulkResult:
    """Apply `action` (retry, disable, enable, delete) to `documents` of `kb` (a list or queryset from
    kb.selectors.documents_for_kb: the caller went through the access funnel with kb:update). Refusals are
    counted and reported, not raised, except that a refused deletion deletes none of them."""
    if action not in ACTIONS:
        raise ValueError(f"unknown bulk action {action!r}")
    documents = [d for d in documents if d.kb_id == kb.pk]  # never another KB's rows, whatever the caller passed
    for document in documents:
        document.kb = kb  # the services read document.kb: one KB object, not a query per document
    result = BulkResult(action=action, requested=len(documents))
    if action == "retry":
        _retry(result, documents, user=user, request=request)
    elif action == "delete":
        _delete(result, documents, user=user, request=request)
    else:
        ids = [d.pk for d in documents]
        if action == "enable":  # old versions kept under a legal hold stay disabled (documents_set_enabled)
            stay = kb.documents.filter(pk__in=ids, enabled=False, metadata__has_key=SUPERSEDED).count()
            if stay:
                result.refused = stay
                result.messages.append(f"{stay} old version(s) replaced by a newer one stay out of search.")
        result.done = documents_set_enabled(
            kb=kb, document_ids=ids, enabled=action == "enable", user=user, request=request
        )
        result.unchanged = result.requested - result.done - result.refused
    bulk_recorded(kb=kb, result=result, user=user, request=request, scope=scope,
                  receipt_id=str(result.receipt.pk) if result.receipt else None)  # fmt: skip
    return result


def bulk_recorded(*, kb: KnowledgeBase, result: BulkResult, user, request=None, scope: str = "", **details) -> None:
    """The one audit event of a bulk action (what was asked, how many, what happened, plus `details`) and its
    metrics once committed; also used by drafts.sync.bulk's re-sync."""
    audit_record(
        event_type="knowledge_base", action=f"documents_bulk_{result.action}", user=user, request=request,
        workspace=kb.workspace, resource=kb, success=result.refused == 0,
        details={"scope": scope, "requested": result.requested, "done": result.done, "unchanged": result.unchanged,
                 "refused": result.refused, **details},
    )  # fmt: skip

    def count() -> None:
        DOCUMENT_BULK_ACTIONS.labels(action=result.action).inc()
        for outcome in ("done", "unchanged", "refused"):
            if n := getattr(result, outcome):
                DOCUMENT_BULK_DOCUMENTS.labels(action=result.action, outcome=outcome).inc(n)

    transaction.on_commit(count)
