"""Website sources and their re-syncs (/api/v1/knowledge-bases/{id}/website-sources/, .../sync-runs/).

Mounted under the knowledge-bases prefix by pages/api_urls.py; the KB comes through the access funnel (read to
look, update to sync or change the schedule), its sources and runs only through that KB."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers as drf
from rest_framework import status
from rest_framework.response import Response

from drafts.sync import selectors as reads
from drafts.sync.services import sync_start
from drafts.sync.sources import website_source_update
from kb.models import RemovedPagePolicy, SyncRun, SyncSchedule
from kb.selectors import kb_get_for_user
from privexbot.api.routes import path  # the trailing slash is optional on every API route
from privexbot.api.serializers import validated
from privexbot.api.views import ApiView
from tenants.models import Perm

TAGS = ["knowledge-bases"]


class SyncRunSummary(drf.ModelSerializer):
    class Meta:
        model = SyncRun
        fields = ["id", "status", "trigger", "counts", "error", "attempts", "created_at", "started_at", "finished_at"]


class ReportEntry(drf.Serializer):
    url = drf.CharField()
    outcome = drf.ChoiceField(choices=["added", "changed", "removed", "kept", "unchanged", "failed"])
    reason = drf.CharField()
    http_status = drf.IntegerField(allow_null=True)
    document_id = drf.UUIDField(required=False)


class SyncRunDetail(SyncRunSummary):
    website_source_id = drf.UUIDField(read_only=True)
    report = ReportEntry(many=True, read_only=True)
    review_draft_id = drf.SerializerMethodField()

    class Meta(SyncRunSummary.Meta):
        fields = [*SyncRunSummary.Meta.fields, "website_source_id", "report", "review_draft_id"]

    def get_review_draft_id(self, run) -> str | None:
        draft = run.drafts.first()
        return str(draft.pk) if draft else None


class WebsiteSourceResponse(drf.Serializer):
    id = drf.UUIDField()
    url = drf.CharField()
    crawl_config = drf.JSONField()
    schedule = drf.ChoiceField(choices=SyncSchedule.choices)
    removed_pages = drf.ChoiceField(choices=RemovedPagePolicy.choices)
    last_synced_at = drf.DateTimeField(allow_null=True)
    next_sync_at = drf.DateTimeField(allow_null=True)
    created_at = drf.DateTimeField()
    recent_runs = drf.SerializerMethodField()

    def get_recent_runs(self, source) -> list[dict]:
        return SyncRunSummary(reads.recent_runs(source), many=True).data


class WebsiteSourceUpdate(drf.Serializer):
    schedule = drf.ChoiceField(choices=SyncSchedule.choices, required=False)
    removed_pages = drf.ChoiceField(choices=RemovedPagePolicy.choices, required=False)


@extend_schema(tags=TAGS)
class WebsiteSourceListView(ApiView):
    @extend_schema(responses=WebsiteSourceResponse(many=True), summary="Website sources of a knowledge base")
    def get(self, request, kb_id):
        kb = kb_get_for_user(user=request.user, kb_id=kb_id)
        return Response(WebsiteSourceResponse(reads.website_sources_for_kb(kb=kb), many=True).data)


@extend_schema(tags=TAGS)
class WebsiteSourceDetailView(ApiView):
    @extend_schema(responses=WebsiteSourceResponse, summary="A website source and its last syncs")
    def get(self, request, kb_id, source_id):
        kb = kb_get_for_user(user=request.user, kb_id=kb_id)
        return Response(WebsiteSourceResponse(reads.website_source_get(kb=kb, source_id=source_id)).data)

    @extend_schema(
        request=WebsiteSourceUpdate, responses=WebsiteSourceResponse,
        summary="Change a website source's sync schedule (off, daily, weekly) or removed-pages policy",
    )  # fmt: skip
    def patch(self, request, kb_id, source_id):
        kb = kb_get_for_user(user=request.user, kb_id=kb_id, perm=Perm.KB_UPDATE)
        source = reads.website_source_get(kb=kb, source_id=source_id)
        data = validated(WebsiteSourceUpdate, request.data)
        source = website_source_update(source=source, user=request.user, request=request, **data)
        return Response(WebsiteSourceResponse(source).data)


@extend_schema(tags=TAGS)
class WebsiteSourceSyncView(ApiView):
    @extend_schema(
        request=None, responses={202: SyncRunDetail},
        summary="Re-sync a website source now (409 while another sync of it is queued, running or in review)",
    )  # fmt: skip
    def post(self, request, kb_id, source_id):
        kb = kb_get_for_user(user=request.user, kb_id=kb_id, perm=Perm.KB_UPDATE)
        source = reads.website_source_get(kb=kb, source_id=source_id)
        run = sync_start(website_source=source, user=request.user, trigger="api", request=request)
        return Response(SyncRunDetail(run).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=TAGS)
class SyncRunDetailView(ApiView):
    @extend_schema(responses=SyncRunDetail, summary="A sync run with its report: one entry per URL")
    def get(self, request, kb_id, run_id):
        kb = kb_get_for_user(user=request.user, kb_id=kb_id)
        return Response(SyncRunDetail(reads.sync_run_get(kb=kb, run_id=run_id)).data)


urlpatterns = [
    path("<uuid:kb_id>/website-sources/", WebsiteSourceListView.as_view(), name="api-kb-website-sources"),
    path(
        "<uuid:kb_id>/website-sources/<uuid:source_id>",
        WebsiteSourceDetailView.as_view(),
        name="api-kb-website-source",
    ),  # fmt: skip
    path(
        "<uuid:kb_id>/website-sources/<uuid:source_id>/sync",
        WebsiteSourceSyncView.as_view(),
        name="api-kb-website-source-sync",
    ),  # fmt: skip
    path("<uuid:kb_id>/sync-runs/<uuid:run_id>", SyncRunDetailView.as_view(), name="api-kb-sync-run"),
]
