"""The doors of the user-data export (pages.user_export) over HTTP: the profile page's "Download my data" and
`GET /api/v1/me/export` (a session, or a key with the admin scope: the export holds the whole account)."""

from __future__ import annotations

import tempfile

from django.contrib.auth.decorators import login_required
from django.http import FileResponse
from django.utils import timezone
from django.views.decorators.http import require_POST
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers as drf
from rest_framework.renderers import JSONRenderer

from kb.api.portability import ZipRenderer
from pages.user_export import user_export
from privexbot.api.serializers import validated
from privexbot.api.throttling import HeavyThrottled
from privexbot.api.views import ApiView
from tenants.models import Scope


def _download(request, *, include_files: bool, door: str) -> FileResponse:
    # An unnamed temporary file: the zip holds decrypted originals, and an unlinked file leaves nothing on disk
    # once the response closes it, even if the process dies mid-download.
    out = tempfile.TemporaryFile(prefix="pxb-user-export-")  # noqa: SIM115  (FileResponse closes it)
    try:
        user_export(user=request.user, out=out, include_files=include_files, door=door, request=request)
        out.seek(0)
    except BaseException:
        out.close()
        raise
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response = FileResponse(
        out, as_attachment=True, filename=f"privexbot-user-{request.user.pk}-{stamp}.zip",
        content_type="application/zip",
    )  # fmt: skip
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def profile_export(request):
    return _download(request, include_files=True, door="web")


class _ExportQuery(drf.Serializer):
    include_files = drf.BooleanField(default=True)


@extend_schema(tags=["me"])
class UserExportView(HeavyThrottled, ApiView):
    required_scope = Scope.ADMIN
    renderer_classes = [JSONRenderer, ZipRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter("include_files", OpenApiTypes.BOOL, description="KB archives with their files (default)")
        ],
        responses={(200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="the user's export")},
        summary="Export everything your account owns (one zip)",
        description="profile.json (account, memberships and roles, API key metadata, MFA types), audit.jsonl (the "
        "audit events you caused), drafts.json (your drafts' metadata) and knowledge-bases/<id>.pxkb.zip, one KB "
        "archive per knowledge base you created and can still read. With a key: the 'admin' scope.",
    )  # fmt: skip
    def get(self, request):
        include_files = validated(_ExportQuery, request.query_params)["include_files"]
        return _download(request, include_files=include_files, door="api")
