"""The audit log of one workspace, for its owners and admins: a page (recent events, filters, a download) and
`GET /api/v1/audit/` (an `admin` key). Both go through the access funnel (workspace:manage); staff reach every
workspace's events through the API without `workspace_id` (and through the Django admin). A download is itself
an audited data export."""

from __future__ import annotations

from datetime import UTC, datetime, time

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema

from privexbot.api.views import ApiView
from privexbot.audit import audit_record
from privexbot.audit.export import CONTENT_TYPES, FORMATS, audit_events, export_lines
from privexbot.audit.pseudonyms import with_pseudonyms
from tenants.models import Perm
from tenants.selectors import workspace_get_for_user

PAGE_ROWS = 100


class AuditFilterForm(forms.Form):
    # "from" is a keyword: the field is `start`, read from the `from` parameter (see `_bound`).
    start = forms.CharField(required=False)
    end = forms.CharField(required=False)
    event_type = forms.CharField(required=False, max_length=500, help_text="comma-separated")
    format = forms.ChoiceField(choices=[(f, f) for f in FORMATS], required=False)

    @staticmethod
    def _moment(text: str, name: str) -> datetime | None:
        from django.utils.dateparse import parse_date, parse_datetime

        if not text:
            return None
        try:
            value = parse_datetime(text)
            if value is None and (day := parse_date(text)) is not None:
                value = datetime.combine(day, time.min)
        except ValueError:
            value = None
        if value is None:
            raise ValidationError({name: f"not a date or date-time: {text[:40]!r}"})
        return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)

    def clean(self):
        data = super().clean()
        data["start"] = self._moment(data.get("start") or "", "start")
        data["end"] = self._moment(data.get("end") or "", "end")
        data["event_types"] = [t.strip() for t in (data.get("event_type") or "").split(",") if t.strip()]
        data["format"] = data.get("format") or "jsonl"
        return data


def _bound(params) -> AuditFilterForm:
    return AuditFilterForm(
        {
            "start": params.get("from", ""),
            "end": params.get("to", ""),
            "event_type": params.get("event_type", ""),
            "format": params.get("format", ""),
        }
    )


def _filters(params) -> dict:
    form = _bound(params)
    if not form.is_valid():
        raise ValidationError({name: errors for name, errors in form.errors.items()})
    return form.cleaned_data


def _download(request, events, filters: dict, *, workspace=None, door: str) -> StreamingHttpResponse:
    fmt = filters["format"]
    event = audit_record(
        event_type="data_export", action="audit_export", request=request, workspace=workspace,
        resource=workspace,
        details={"format": fmt, "from": filters["start"], "to": filters["end"],
                 "event_types": filters["event_types"], "door": door},
    )  # fmt: skip
    if event is not None:  # what existed when it was asked for: not this download's own event
        events = events.filter(id__lt=event.id)
    response = StreamingHttpResponse(export_lines(events, fmt), content_type=CONTENT_TYPES[fmt])
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    scope = f"workspace-{workspace.pk}" if workspace is not None else "installation"
    response["Content-Disposition"] = f'attachment; filename="audit-{scope}-{stamp}.{fmt}"'
    return response


@login_required
@require_GET
def workspace_audit(request, workspace_id):
    workspace = workspace_get_for_user(user=request.user, workspace_id=workspace_id, perm=Perm.WORKSPACE_MANAGE)
    form = _bound(request.GET)
    filters = (
        form.cleaned_data if form.is_valid() else {"start": None, "end": None, "event_types": [], "format": "jsonl"}
    )
    events = audit_events(
        workspace_id=workspace.pk, start=filters["start"], end=filters["end"], event_types=filters["event_types"]
    )
    if request.GET.get("download") and form.is_valid():
        return _download(request, events, filters, workspace=workspace, door="ui")
    recent = with_pseudonyms(events.order_by("-id")[:PAGE_ROWS])  # an erased user appears as their pseudonym
    return render(
        request,
        "tenants/audit.html",
        {"workspace": workspace, "form": form, "events": recent, "formats": FORMATS, "page_rows": PAGE_ROWS},
        status=200 if form.is_valid() else 400,
    )


class AuditExportView(ApiView):
    """The audit log as JSON lines or CSV; `workspace_id` (owners and admins), or none for staff."""

    required_scope = "admin"

    def perform_content_negotiation(self, request, force=False):
        # `format` is this route's own parameter (jsonl|csv), not DRF's renderer override: never a 404 for it.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        tags=["audit"], summary="Export audit events (JSON lines or CSV) by time range and event type",
        parameters=[
            OpenApiParameter("workspace_id", OpenApiTypes.UUID, description="required unless you are staff"),
            OpenApiParameter("from", OpenApiTypes.DATETIME, description="first moment included (UTC)"),
            OpenApiParameter("to", OpenApiTypes.DATETIME, description="first moment excluded"),
            OpenApiParameter("event_type", OpenApiTypes.STR, description="comma-separated event types"),
            OpenApiParameter("format", OpenApiTypes.STR, enum=list(FORMATS), description="jsonl (default) or csv"),
        ],
        responses={(200, "application/x-ndjson"): OpenApiTypes.STR, (200, "text/csv"): OpenApiTypes.STR},
    )  # fmt: skip
    def get(self, request):
        filters = _filters(request.query_params)
        workspace_id = request.query_params.get("workspace_id")
        workspace = None
        if workspace_id or not request.user.is_staff:
            if not workspace_id:
                raise ValidationError({"workspace_id": "required (only staff export the whole installation)"})
            workspace = workspace_get_for_user(user=request.user, workspace_id=workspace_id, perm=Perm.WORKSPACE_MANAGE)
        events = audit_events(
            workspace_id=workspace.pk if workspace else None, start=filters["start"], end=filters["end"],
            event_types=filters["event_types"],
        )  # fmt: skip
        return _download(request, events, filters, workspace=workspace, door="api")
