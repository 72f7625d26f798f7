"""Draft API (/api/v1/kb-drafts/): the design guide's routes. Views only parse, call a service or selector
through the access funnel and shape the response; errors become the shared error shape in
privexbot.api.exceptions."""

from __future__ import annotations

from django.db.models import prefetch_related_objects
from drf_spectacular.utils import extend_schema
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from drafts import services
from drafts.api import serializers as s
from drafts.models import DraftPurpose
from drafts.preview import draft_preview, draft_validate
from drafts.selectors import draft_get_for_user, draft_processing_status, draft_source_get, kb_for_new_sources
from drafts.settings_draft import draft_create_settings
from privexbot.api.auth import check_upload_size
from privexbot.api.serializers import validated
from privexbot.api.throttling import HeavyThrottled
from privexbot.api.views import ApiView
from privexbot.audit import audit_record
from tenants.models import Perm
from tenants.selectors import workspace_get_for_user
from tenants.tokens import require_unlimited_key

TAGS = ["kb-drafts"]


def _source(source) -> dict:
    return s.SourceResponse(source).data


def _draft_workspace(request, workspace_id):
    return workspace_get_for_user(user=request.user, workspace_id=workspace_id, perm=Perm.KB_CREATE)


@extend_schema(tags=TAGS)
class DraftCreateView(ApiView):
    @extend_schema(
        request=s.CreateKBDraftRequest, responses=s.KBDraftResponse, summary="Create a KB draft",
        description="Without `kb_id`: a draft of a new knowledge base. With `kb_id`: a draft that adds sources to "
        "that knowledge base (purpose `add_sources`); it takes the KB's chunking, embedding and vector-store "
        "settings, which cannot be changed in it (PATCH config answers 400). The same source, preview-chunks, "
        "validate and finalize routes follow; finalize adds the documents to the KB. Needs kb:update on the KB "
        "(another tenant's KB is a 404, a readable one a 403) and kb:create in its workspace; an API key limited "
        "to some KBs may add to those. With `kb_id` and `purpose: \"settings\"`: a draft of that KB's settings "
        "(PATCH config changes chunking, model, distance metric; preview-chunks shows the KB's documents with them; "
        "finalize starts a rebuild, see /knowledge-bases/{id}/rebuilds); 409 while a rebuild runs.",
    )  # fmt: skip
    def post(self, request):
        data = validated(s.CreateKBDraftRequest, request.data)
        description = data.get("description") or ""
        if data.get("purpose") == DraftPurpose.SETTINGS:  # new settings of a live KB: finalize rebuilds its index
            kb = kb_for_new_sources(user=request.user, kb_id=data["kb_id"])
            draft = draft_create_settings(kb=kb, user=request.user, request=request)
        elif data.get("kb_id"):
            kb = kb_for_new_sources(user=request.user, kb_id=data["kb_id"])
            workspace = _draft_workspace(request, data["workspace_id"]) if data.get("workspace_id") else kb.workspace
            draft = services.draft_create(
                workspace=workspace, user=request.user, name=data.get("name") or "", description=description,
                target_kb=kb, purpose=DraftPurpose.ADD_SOURCES, request=request,
            )  # fmt: skip
        else:
            require_unlimited_key(request.user, doing="create knowledge bases")
            workspace = _draft_workspace(request, data["workspace_id"])
            draft = services.draft_create(
                workspace=workspace, user=request.user, name=data["name"], description=description, request=request
            )
        return Response({
            "draft_id": str(draft.pk), "status": "created", "message": "KB draft created successfully",
            "purpose": draft.purpose, "kb_id": str(draft.target_kb_id) if draft.target_kb_id else None,
        })  # fmt: skip


@extend_schema(tags=TAGS)
class DraftDetailView(ApiView):
    @extend_schema(responses=s.KBDraftDetails, summary="Get a KB draft")
    def get(self, request, draft_id):
        draft = draft_get_for_user(user=request.user, draft_id=draft_id)
        prefetch_related_objects([draft], "sources")
        status = draft_processing_status(draft=draft)
        return Response(s.draft_details(draft=draft, sources=draft.sources.all(), processing_status=status))

    @extend_schema(responses=s.MessageResponse, summary="Delete a KB draft and its stored files")
    def delete(self, request, draft_id):
        draft = draft_get_for_user(user=request.user, draft_id=draft_id)
        services.draft_delete(draft=draft, user=request.user, request=request)
        return Response({"message": "Draft deleted successfully"})


@extend_schema(tags=TAGS)
class FileSourceView(HeavyThrottled, ApiView):
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": s.FileSourceRequest}, responses=s.SourceResponse,
                   summary="Upload a file (PDF, DOCX, TXT, MD, CSV, XLSX, HTML)")  # fmt: skip
    def post(self, request, draft_id):
        draft = draft_get_for_user(user=request.user, draft_id=draft_id)
        check_upload_size(request)
        data = validated(s.FileSourceRequest, request.data)
        upload = data["file"]
        source = services.draft_source_add_file(
            draft=draft, user=request.user, filename=upload.name, fileobj=upload, title=data.get("title"),
            metadata=data.get("metadata") or {}, request=request,
        )  # fmt: skip
        return Response(_source(source))


@extend_schema(tags=TAGS)
class WebsiteSourceView(ApiView):
    @extend_schema(request=s.WebsiteSourceRequest, responses=s.SourceResponse, summary="Add a website to crawl")
    def post(self, request, draft_id):
        draft = draft_get_for_user(user=request.user, draft_id=draft_id)
        data = validated(s.WebsiteSourceRequest, request.data)
        source = services.draft_source_add_website(
            draft=draft, user=request.user, url=data["url"], crawl_config=dict(data.get("crawl_config") or {}),
            metadata=data.get("metadata") or {}, request=request,
        )  # fmt: skip
        return Response(_source(source))


@extend_schema(tags=TAGS)
class TextSourceView(ApiView):
    @extend_schema(request=s.TextSourceRequest, responses=s.SourceResponse, summary="Add pasted text")
    def post(self, request, draft_id):
        draft = draft_get_for_user(user=request.user, draft_id=draft_id)
        data = validated(s.TextSourceRequest, request.data)
        source = services.draft_source_add_text(
            draft=draft, user=request.user, title=data["title"], content=data["content"],
            metadata=data.get("metadata") or {}, request=request,
        )  # fmt: skip
        return Response(_source(source))


@extend_schema(tags=TAGS)
class SourceListView(ApiView):
    @extend_schema(responses=s.SourceResponse(many=True), summary="List a draft's sources")
    def get(self, request, draft_id):
        draft = draft_get_for_user(user=request.user, draft_id=draft_id)
        return Response(s.SourceResponse(draft.sources.all(), many=True).data)


@extend_schema(tags=TAGS)
class SourceDetailView(ApiView):
    @extend_schema(responses=s.MessageResponse, summary="Remove a source (a running crawl stops)")
    def delete(self, request, draft_id, source_id):
        draft = draft_get_for_user(user=request.user, draft_id=draft_id)
        source = draft_source_get(draft=draft, source_id=source_id)
        services.draft_source_remove(draft=draft, source=source, user=request.user, request=request)
        return Response({"message": "Source removed successfully"})


@extend_schema(tags=TAGS)
class PreviewChunksView(HeavyThrottled, ApiView):
    @extend_schema(request=s.ChunkPreviewRequest, responses=s.ChunkPreviewResponse,
                   summary="Preview the chunks exactly as they will be indexed (nothing is saved)")  # fmt: skip
    def post(self, request, draft_id):
        draft = draft_get_for_user(user=request.user, draft_id=draft_id)
        data = validated(s.ChunkPreviewRequest, request.data or {})
        source_id = data.get("source_id")
        if source_id is not None and draft.purpose != DraftPurpose.SETTINGS:  # a settings draft: a document's id
            source_id = draft_source_get(draft=draft, source_id=source_id).pk
        preview = draft_preview(draft=draft, source_id=source_id, offset=data["offset"], limit=data["limit"])
        # Chunk text went out: a read of document content.
        audit_record(
            event_type="document_access", action="preview_chunks", request=request, workspace=draft.workspace,
            resource=draft, details={"source_id": str(source_id) if source_id else None,
                                     "shown": len(preview["chunks"]), "total_chunks": preview["total_chunks"]},
        )  # fmt: skip
        return Response(s.ChunkPreviewResponse(preview).data)


@extend_schema(tags=TAGS)
class ValidateDraftView(HeavyThrottled, ApiView):
    @extend_schema(request=None, responses=s.ValidationResponse, summary="Validate a draft before finalizing")
    def post(self, request, draft_id):
        draft = draft_get_for_user(user=request.user, draft_id=draft_id)
        return Response(s.ValidationResponse(draft_validate(draft=draft)).data)


FINALIZED = {
    DraftPurpose.CREATE: "Knowledge base created successfully.",
    DraftPurpose.ADD_SOURCES: "Sources added to the knowledge base.",
    DraftPurpose.SETTINGS: "The index is being rebuilt with the new settings; search keeps serving the current one.",
}


@extend_schema(tags=TAGS)
class FinalizeDraftView(ApiView):
    @extend_schema(request=None, responses=s.FinalizeResponse,
                   summary="Create the knowledge base (or add to the draft's KB) and queue its documents")  # fmt: skip
    def post(self, request, draft_id):
        draft = draft_get_for_user(user=request.user, draft_id=draft_id)
        purpose = draft.purpose  # the draft is gone after finalize
        kb = services.draft_finalize(draft=draft, user=request.user, request=request)
        done = FINALIZED.get(purpose, "Knowledge base updated.")
        return Response({
            "kb_id": str(kb.pk),
            "status": "processing",
            "message": f"{done} Documents are being processed in the background.",
            "purpose": purpose,
            "documents": kb.add_report.as_dict(),  # added / replaced / skipped by the KB's duplicate_policy
        })  # fmt: skip


@extend_schema(tags=TAGS)
class DraftConfigView(ApiView):
    @extend_schema(request=s.ConfigUpdateRequest, responses=s.MessageResponse, summary="Update a draft's configs")
    def patch(self, request, draft_id):
        draft = draft_get_for_user(user=request.user, draft_id=draft_id)
        data = validated(s.ConfigUpdateRequest, request.data)
        services.draft_config_update(draft=draft, user=request.user, request=request, **data)
        return Response({"message": "Configuration updated successfully"})
