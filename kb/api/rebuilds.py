"""Index rebuilds of a KB (kb.rebuild): list, read, start with new settings, cancel.

The API's usual way to a rebuild is a settings draft (`POST /api/v1/kb-drafts/` with `kb_id` and
`purpose: "settings"`), which previews the new chunks first; POST here starts one with the settings given directly,
validated the same way (scripts and operators that already know what they want).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from kb.models import RebuildStatus
from kb.rebuild import rebuild_cancel, rebuild_get, rebuild_start, rebuild_summary
from kb.selectors import kb_get_for_user
from privexbot.api.serializers import JSONObjectField, validated
from privexbot.api.views import ApiView
from tenants.models import Perm

TAGS = ["knowledge-bases"]


class Rebuild(serializers.Serializer):
    id = serializers.UUIDField()
    generation = serializers.IntegerField(help_text="the index generation it builds (the KB serves `generation`)")
    status = serializers.ChoiceField(choices=RebuildStatus.choices)
    active = serializers.BooleanField(help_text="queued or running: search serves the current generation meanwhile")
    documents_total = serializers.IntegerField()
    documents_done = serializers.IntegerField()
    documents_failed = serializers.IntegerField()
    progress = serializers.IntegerField(help_text="percent of documents done")
    error = serializers.CharField(help_text="why it failed or was cancelled")
    chunking_config = serializers.DictField()
    embedding_config = serializers.DictField()
    vector_store_config = serializers.DictField()
    stats = serializers.DictField(help_text="chunks written, embedding cache hits, vectors computed, rows deleted")
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class RebuildRequest(serializers.Serializer):
    chunking_config = JSONObjectField(required=False, help_text="the whole new chunking config (default: unchanged)")
    embedding_config = JSONObjectField(required=False, help_text='partial: e.g. {"model": "..."}')
    vector_store_config = JSONObjectField(required=False, help_text='partial: e.g. {"distance_metric": "dot"}')


@extend_schema(tags=TAGS)
class RebuildListView(ApiView):
    @extend_schema(responses=Rebuild(many=True), summary="Index rebuilds of a knowledge base, newest first")
    def get(self, request, kb_id):
        kb = kb_get_for_user(user=request.user, kb_id=kb_id)
        return Response([rebuild_summary(r) for r in kb.rebuilds.order_by("-created_at")[:50]])

    @extend_schema(
        request=RebuildRequest, responses={202: Rebuild}, summary="Rebuild the index with new settings",
        description="Validated like a settings draft (the model must be installed, sizes in bounds, something must "
        "change). Search keeps serving the current generation until every ready document is in the new one, then "
        "switches at one moment; a failed or cancelled rebuild leaves the current one serving. 409 while another "
        "rebuild of the KB runs.",
    )  # fmt: skip
    def post(self, request, kb_id):
        kb = kb_get_for_user(user=request.user, kb_id=kb_id, perm=Perm.KB_UPDATE)
        data = validated(RebuildRequest, request.data)
        rebuild = rebuild_start(kb=kb, user=request.user, request=request, door="api", **data)
        return Response(rebuild_summary(rebuild), status=202)


@extend_schema(tags=TAGS)
class RebuildDetailView(ApiView):
    @extend_schema(responses=Rebuild, summary="One index rebuild: status and progress")
    def get(self, request, kb_id, rebuild_id):
        kb = kb_get_for_user(user=request.user, kb_id=kb_id)
        return Response(rebuild_summary(rebuild_get(kb=kb, rebuild_id=rebuild_id)))


@extend_schema(tags=TAGS)
class RebuildCancelView(ApiView):
    @extend_schema(
        request=None, responses=Rebuild, summary="Cancel a rebuild (the KB keeps its current index)",
        description="Its new generation's rows are deleted; 409 when it has already ended.",
    )  # fmt: skip
    def post(self, request, kb_id, rebuild_id):
        kb = kb_get_for_user(user=request.user, kb_id=kb_id, perm=Perm.KB_UPDATE)
        rebuild = rebuild_cancel(rebuild=rebuild_get(kb=kb, rebuild_id=rebuild_id), user=request.user, request=request)
        return Response(rebuild_summary(rebuild))
