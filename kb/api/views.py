"""Knowledge-base API (/api/v1/knowledge-bases/). Every object comes through the access funnel; reads of
document content are audited here, writes by their services."""

from __future__ import annotations

import time

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers as drf
from rest_framework import status
from rest_framework.response import Response

from kb import legal_hold, retention, services
from kb import selectors as reads
from kb import services as writes
from kb.api import serializers as s
from kb.models import DocumentStatus, SourceType
from kb.search import chunk_search
from kb.selectors import kb_get_for_user, kb_perms_for_user, kb_status_summary
from privexbot.api.audit import audit_read
from privexbot.api.represent import represent
from privexbot.api.serializers import validated
from privexbot.api.throttling import HeavyThrottled
from privexbot.api.views import ApiListView, ApiView
from privexbot.audit import query_fingerprint
from tenants.models import Perm, Scope

TAGS = ["knowledge-bases"]


class _Filters(drf.Serializer):
    workspace_id = drf.UUIDField(required=False)
    document_id = drf.UUIDField(required=False)
    status = drf.ChoiceField(choices=DocumentStatus.choices, required=False)
    name = drf.CharField(required=False, max_length=200)
    source_type = drf.ChoiceField(choices=SourceType.choices, required=False)
    enabled = drf.BooleanField(required=False, allow_null=True, default=None)


class _Limit(drf.Serializer):
    limit = drf.IntegerField(min_value=1, max_value=100, default=10)


def _query(request, *names) -> dict:
    """Validated query-string filters; a malformed one is a 400 naming it."""
    data = validated(_Filters, {k: request.query_params[k] for k in names if k in request.query_params})
    return {k: data.get(k) for k in names}


@extend_schema(tags=TAGS)
@extend_schema_view(
    get=extend_schema(
        parameters=[OpenApiParameter("workspace_id", OpenApiTypes.UUID, description="only this workspace's KBs")],
        summary="Knowledge bases you can read",
    )
)
class KnowledgeBaseListView(ApiListView):
    serializer_class = s.KnowledgeBaseListItem

    def get_queryset(self):
        workspace_id = _query(self.request, "workspace_id")["workspace_id"]
        return reads.kb_list_for_user(user=self.request.user, workspace_id=workspace_id)


@extend_schema(tags=TAGS)
class KnowledgeBaseDetailView(ApiView):
    def _detail(self, request, kb):
        perms = kb_perms_for_user(user=request.user, kb=kb)
        return Response(s.kb_detail(kb=kb, summary=kb_status_summary(kb=kb), permissions=perms))

    @extend_schema(responses=s.KnowledgeBaseDetail, summary="A knowledge base: configuration, status and counts")
    def get(self, request, kb_id):
        return self._detail(request, kb_get_for_user(user=request.user, kb_id=kb_id))

    @extend_schema(request=s.KnowledgeBaseUpdate, responses=s.KnowledgeBaseDetail, summary="Update a knowledge base")
    def patch(self, request, kb_id):
        kb = kb_get_for_user(user=request.user, kb_id=kb_id, perm=Perm.KB_UPDATE)
        data = validated(s.KnowledgeBaseUpdate, request.data)
        policy = {s.RETENTION_FIELDS[k]: data.pop(k) for k in list(data) if k in s.RETENTION_FIELDS}
        with transaction.atomic():  # all or nothing: a refused policy change leaves the name as it was too
            if policy:
                retention.kb_retention_set(kb=kb, user=request.user, request=request, **policy)
            writes.kb_update(kb=kb, user=request.user, request=request, **data)
        return self._detail(request, kb)

    @extend_schema(responses={204: None}, summary="Delete a knowledge base with its documents and chunks")
    def delete(self, request, kb_id):
        kb = kb_get_for_user(user=request.user, kb_id=kb_id, perm=Perm.KB_DELETE)
        receipt = writes.kb_delete(kb=kb, user=request.user, request=request)
        response = Response(status=status.HTTP_204_NO_CONTENT)
        response["Deletion-Receipt"] = f"/api/v1/deletion-receipts/{receipt.pk}"  # GET it for the signed receipt
        return response


@extend_schema(tags=TAGS)
class LegalHoldView(ApiView):
    """Owners of the KB's workspace only; a held KB and its documents cannot be deleted (409) until lifted."""

    required_scope = Scope.ADMIN

    @extend_schema(request=s.LegalHoldRequest, responses=s.LegalHold, summary="Put a knowledge base under legal hold")
    def post(self, request, kb_id):
        kb = kb_get_for_user(user=request.user, kb_id=kb_id, perm=Perm.KB_DELETE)
        data = validated(s.LegalHoldRequest, request.data)
        kb = legal_hold.kb_legal_hold_set(kb=kb, user=request.user, reason=data["reason"], request=request)
        return Response(legal_hold.legal_hold_state(kb))

    @extend_schema(request=None, responses=s.LegalHold, summary="Lift the legal hold of a knowledge base")
    def delete(self, request, kb_id):
        kb = kb_get_for_user(user=request.user, kb_id=kb_id, perm=Perm.KB_DELETE)
        kb = legal_hold.kb_legal_hold_lift(kb=kb, user=request.user, request=request)
        return Response(legal_hold.legal_hold_state(kb))


@extend_schema(tags=TAGS)
class RetentionPreviewView(ApiView):
    @extend_schema(
        parameters=[OpenApiParameter("limit", OpenApiTypes.INT, description="documents listed (1-100, default 10)")],
        responses=s.RetentionPreview, summary="What the retention policy deletes next, and when",
    )  # fmt: skip
    def get(self, request, kb_id):
        kb = kb_get_for_user(user=request.user, kb_id=kb_id)
        limit = validated(_Limit, {k: v for k, v in request.query_params.items() if k == "limit"})["limit"]
        return Response(s.RetentionPreview(retention.retention_preview(kb=kb, limit=limit)).data)


@extend_schema(tags=TAGS)
@extend_schema_view(
    get=extend_schema(
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=DocumentStatus.values),
            OpenApiParameter("name", OpenApiTypes.STR, description="name contains this (any case)"),
            OpenApiParameter("source_type", OpenApiTypes.STR, enum=SourceType.values),
            OpenApiParameter("enabled", OpenApiTypes.BOOL, description="true: only enabled; false: only disabled"),
        ],
        summary="Documents of a knowledge base with their processing status (paginated: ?page=&page_size=)",
    )
)
class DocumentListView(ApiListView):
    serializer_class = s.DocumentSerializer

    def get_queryset(self):
        self.kb = kb_get_for_user(user=self.request.user, kb_id=self.kwargs["kb_id"])
        filters = _query(self.request, "status", "name", "source_type", "enabled")
        return reads.documents_for_kb(kb=self.kb, **filters)

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        audit_read(request=request, action="list_documents", kb=self.kb, details={"count": response.data["count"]})
        return response


@extend_schema(tags=TAGS)
class DocumentDetailView(ApiView):
    @extend_schema(responses=s.DocumentDetail, summary="A document: status, progress, stage times, error, attempts")
    def get(self, request, kb_id, document_id):
        kb = kb_get_for_user(user=request.user, kb_id=kb_id)
        document = reads.document_get(kb=kb, document_id=document_id)
        audit_read(request=request, action="read_document", kb=kb, resource=document)
        return Response(s.DocumentDetail(document).data)

    @extend_schema(
        request=s.DocumentUpdate, responses=s.DocumentDetail,
        summary="Disable a document (kept, left out of search) or enable it again: {\"enabled\": false|true}",
    )  # fmt: skip
    def patch(self, request, kb_id, document_id):
        kb = kb_get_for_user(user=request.user, kb_id=kb_id, perm=Perm.KB_UPDATE)
        document = reads.document_get(kb=kb, document_id=document_id)
        data = validated(s.DocumentUpdate, request.data)
        document = services.document_set_enabled(
            document=document, enabled=data["enabled"], user=request.user, request=request
        )
        return Response(s.DocumentDetail(document).data)

    @extend_schema(responses={204: None}, summary="Delete a document and its chunks")
    def delete(self, request, kb_id, document_id):
        kb = kb_get_for_user(user=request.user, kb_id=kb_id, perm=Perm.KB_UPDATE)
        document = reads.document_get(kb=kb, document_id=document_id)
        services.document_delete(document=document, user=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=TAGS)
class DocumentReprocessView(ApiView):
    @extend_schema(
        request=None,
        responses={202: s.DocumentDetail},
        summary="Queue a document again (409 while a worker is processing it)",
    )
    def post(self, request, kb_id, document_id):
        kb = kb_get_for_user(user=request.user, kb_id=kb_id, perm=Perm.KB_UPDATE)
        document = reads.document_get(kb=kb, document_id=document_id)
        document = services.document_reprocess(document=document, user=request.user, request=request)
        return Response(s.DocumentDetail(document).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=TAGS)
@extend_schema_view(
    get=extend_schema(
        parameters=[OpenApiParameter("document_id", OpenApiTypes.UUID, description="only this document's chunks")],
        summary="Indexed chunks of a knowledge base",
    )
)
class ChunkListView(ApiListView):
    serializer_class = s.ChunkSerializer

    def get_queryset(self):
        self.kb = kb_get_for_user(user=self.request.user, kb_id=self.kwargs["kb_id"])
        self.document_id = _query(self.request, "document_id")["document_id"]
        return reads.chunks_for_kb(kb=self.kb, document_id=self.document_id)

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        details = {"document_id": str(self.document_id) if self.document_id else None, "count": response.data["count"]}
        audit_read(request=request, action="list_chunks", kb=self.kb, details=details)
        return response


@extend_schema(tags=TAGS)
class SearchView(HeavyThrottled, ApiView):
    required_scope = Scope.SEARCH  # what a chatbot's key holds: search, nothing else

    @extend_schema(request=s.SearchRequest, responses=s.SearchResponse, summary="Hybrid, vector or keyword search")
    def post(self, request, kb_id):
        kb = kb_get_for_user(user=request.user, kb_id=kb_id)
        data = validated(s.SearchRequest, request.data)
        started = time.perf_counter()
        results = chunk_search(
            kb=kb, query=data["query"], mode=data["mode"], top_k=data["top_k"], filters=data.get("filters"),
            score_threshold=data.get("score_threshold"), fusion_method=data.get("fusion"),
            vector_weight=data.get("vector_weight"), page_weight=data.get("page_weight"), group_by=data["group_by"],
            chunks_per_document=data["chunks_per_document"],
        )  # fmt: skip
        took_ms = round((time.perf_counter() - started) * 1000, 1)
        audit_read(
            request=request, action="search", kb=kb,
            details={**query_fingerprint(data["query"], mode=data["mode"]), "top_k": data["top_k"],
                     "results": len(results)},
        )  # fmt: skip
        return Response({
            "query": data["query"], "mode": data["mode"], "top_k": data["top_k"], "group_by": data["group_by"],
            # SearchHit's output without DRF's per-hit field copies (privexbot/api/represent.py): same JSON
            "took_ms": took_ms, "results": represent(s.SearchHit, results, to_dict=lambda r: r.to_dict()),
        })  # fmt: skip
