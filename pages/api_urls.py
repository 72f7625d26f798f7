"""/api/v1/: drafts, knowledge bases, workspaces, tokens, the OpenAPI schema and its docs page."""

from csp.decorators import csp_update
from django.urls import include, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes

from kb.api.receipts import DeletionReceiptView
from pages.user_export_views import UserExportView
from privexbot.api import schema  # noqa: F401  (registers the OpenAPI extensions)
from privexbot.api.exceptions import error_body
from privexbot.api.routes import path  # the trailing slash is optional on every API route
from privexbot.security_headers import API_DOCS_CSP_UPDATE


@api_view(["GET", "POST", "PUT", "PATCH", "DELETE"])
@authentication_classes([])
@permission_classes([])
@throttle_classes([])
def not_found(request, path=""):
    from rest_framework.response import Response

    return Response(error_body(code="not_found", message=f"No API route /api/v1/{path}"), status=404)


not_found.cls.schema = None  # not an operation of the API

urlpatterns = [
    path("kb-drafts/", include("drafts.api.urls")),
    path("knowledge-bases/", include("kb.api.urls")),
    path("knowledge-bases/", include("drafts.api.sync")),  # website sources and their re-syncs (drafts.sync)
    path("deletion-receipts/<uuid:receipt_id>", DeletionReceiptView.as_view(), name="api-deletion-receipt"),
    path("me/export", UserExportView.as_view(), name="api-me-export"),  # pages/user_export.py: spans the apps
    path("", include("tenants.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI's set-up script comes from this URL with ?script (the split view), so no inline script runs;
    # Redoc writes <style> elements and starts a blob: worker: its page alone gets API_DOCS_CSP_UPDATE.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path(
        "redoc/",
        csp_update(API_DOCS_CSP_UPDATE)(SpectacularRedocView.as_view(url_name="api-schema")),
        name="api-redoc",
    ),
    re_path(r"^(?P<path>.*)$", not_found),
]
