"""Authentication helpers for API views: the OpenAPI description of bearer tokens and the early upload-size
check (a body far over MAX_FILE_SIZE is refused from its Content-Length, before it is read)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension

from privexbot.errors import ServiceError

MULTIPART_SLACK = 1024 * 1024  # form fields and multipart boundaries around the file


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (`pxb_...`) from the key page (/profile/api-keys/), `manage.py "
            "create_api_token` or POST /api/v1/tokens/. Its scope (search < read < write < admin) must reach the "
            "one each operation names in `x-required-scope`; it may be limited to some knowledge bases (the others "
            "are a 404) and never does more than its user's role allows.",
        }


def check_upload_size(request) -> None:
    length = request.META.get("CONTENT_LENGTH") or ""
    if length.isdigit() and int(length) > settings.MAX_FILE_SIZE + MULTIPART_SLACK:
        message = f"The file is larger than the {settings.MAX_FILE_SIZE // 2**20} MB limit."
        raise ServiceError("too_large", message, details={"file": [message]}, http_status=413)
