"""KB archives over the API: GET /knowledge-bases/{id}/export (a streamed zip) and POST /knowledge-bases/import
(multipart: the archive and the target workspace). Both call kb.portability, which audits and counts."""

from __future__ import annotations

import json

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers as drf
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from kb.api import serializers as s
from kb.portability import ArchiveError, archive_filename, kb_export_stream, kb_import_archive, uploaded_archive
from kb.selectors import kb_get_for_user, kb_perms_for_user, kb_status_summary
from privexbot.api.serializers import validated
from privexbot.api.throttling import HeavyThrottled
from privexbot.api.views import ApiView
from tenants.models import Perm, Scope
from tenants.selectors import workspace_get_for_user

TAGS = ["knowledge-bases"]
FORM_SLACK = 1024 * 1024  # the workspace field and the multipart boundaries around the file


class ZipRenderer(BaseRenderer):
    """Lets a client ask for `Accept: application/zip`; an error is still the JSON error body."""

    media_type = "application/zip"
    format = "zip"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode() if isinstance(data, dict | list) else data


class _ExportQuery(drf.Serializer):
    include_files = drf.BooleanField(default=True)


class ImportRequest(drf.Serializer):
    workspace_id = drf.UUIDField(help_text="the workspace the new knowledge base is created in (needs kb:create)")
    archive = drf.FileField(use_url=False, help_text="a .zip exported by PrivexBot KB")


@extend_schema(tags=TAGS)
class ExportView(HeavyThrottled, ApiView):
    required_scope = Scope.READ
    renderer_classes = [JSONRenderer, ZipRenderer]

    @extend_schema(
        parameters=[OpenApiParameter("include_files", OpenApiTypes.BOOL, description="with original files (default)")],
        responses={(200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="the KB archive")},
        summary="Export a knowledge base as one portable archive (streamed zip)",
        description="manifest.json (schema version, KB settings, model, counts, sha256 of every member) and per "
        "document its metadata, original file (optional), parsed elements, chunks and float32 embeddings. "
        "POST /knowledge-bases/import turns it back into a knowledge base, here or on another installation.",
    )  # fmt: skip
    def get(self, request, kb_id):
        kb = kb_get_for_user(user=request.user, kb_id=kb_id)
        include_files = validated(_ExportQuery, request.query_params)["include_files"]
        stream = kb_export_stream(kb=kb, user=request.user, include_files=include_files, door="api", request=request)
        response = StreamingHttpResponse(stream, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{archive_filename(kb)}"'
        response["Cache-Control"] = "no-store"
        return response


@extend_schema(tags=TAGS)
class ImportView(HeavyThrottled, ApiView):
    required_scope = Scope.WRITE
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": ImportRequest}, responses={201: s.KnowledgeBaseDetail},
        summary="Import a knowledge base from an archive into a workspace",
        description="Creates a new knowledge base (new ids) with the archive's settings, documents, files, parsed "
        "elements, chunks and embeddings: its documents are ready at once, nothing is embedded again. The archive's "
        "model must be installed here with the same dimensions. A damaged, altered, oversized or unknown-version "
        "archive is a 4xx error and creates nothing.",
    )  # fmt: skip
    def post(self, request):
        length = request.META.get("CONTENT_LENGTH") or ""
        if length.isdigit() and int(length) > settings.KB_ARCHIVE_MAX_SIZE + FORM_SLACK:  # before the body is read
            raise ArchiveError("too_large", "The archive is larger than KB_ARCHIVE_MAX_SIZE.", http_status=413)
        data = validated(ImportRequest, request.data)
        workspace = workspace_get_for_user(user=request.user, workspace_id=data["workspace_id"], perm=Perm.KB_CREATE)
        with uploaded_archive(data["archive"]) as path:
            kb = kb_import_archive(
                workspace=workspace, user=request.user, archive_path=path, door="api", request=request
            )
        perms = kb_perms_for_user(user=request.user, kb=kb)
        body = s.kb_detail(kb=kb, summary=kb_status_summary(kb=kb), permissions=perms)
        return Response(body, status=status.HTTP_201_CREATED)
