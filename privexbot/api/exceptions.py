"""One error shape for the whole API: {"error": {"code", "message", "details"}}.

Exceptions raised by services (privexbot.errors.ServiceError and its subclasses in lower layers, Django
ValidationError, Http404, PermissionDenied) and by DRF itself are translated here, so views never build error
responses of their own. A Django ValidationError whose code is "conflict" becomes a 409.
"""

from __future__ import annotations

import logging

from django.core import exceptions as django_exceptions
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from privexbot.api.audit import audit_failed_write
from privexbot.errors import ServiceError

logger = logging.getLogger(__name__)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


class ApiError(exceptions.APIException):
    """An error with an explicit status, code and field details (used for translated service errors)."""

    def __init__(self, *, status_code: int, code: str, message: str, details: dict | None = None):
        super().__init__(message, code)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = details or {}


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail -> {"crawl_config.max_depth": ["..."]}."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = prefix if str(key) == "non_field_errors" and prefix else ".".join(filter(None, [prefix, str(key)]))
            out.update(_flatten(value, name))
        return out
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        out = {}
        for index, item in enumerate(detail):
            if item:  # a valid item of a list has an empty error entry
                out.update(_flatten(item, ".".join(filter(None, [prefix, str(index)]))))
        return out
    items = detail if isinstance(detail, list) else [detail]
    return {prefix or "non_field_errors": [str(item) for item in items]}


def _django_validation(exc: django_exceptions.ValidationError) -> ApiError:
    if hasattr(exc, "error_dict"):
        details = {field: [m for e in errors for m in e.messages] for field, errors in exc.error_dict.items()}
        codes = {e.code for errors in exc.error_dict.values() for e in errors}
    else:
        details = {"non_field_errors": exc.messages}
        codes = {e.code for e in exc.error_list}
    if "conflict" in codes:
        field, messages = next(iter(details.items()))
        return ApiError(status_code=409, code="conflict", message=messages[0], details=details)
    return _validation_error(details)


def _validation_error(details: dict[str, list[str]]) -> ApiError:
    field, messages = next(iter(details.items()), ("non_field_errors", ["Invalid input."]))
    message = messages[0] if field == "non_field_errors" else f"{field}: {messages[0]}"
    return ApiError(status_code=400, code="validation_error", message=message, details=details)


def translate(exc: Exception) -> Exception:
    """Map service and framework exceptions onto APIException subclasses; others are returned unchanged."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, exceptions.ValidationError):
        return _validation_error(_flatten(exc.detail))
    if isinstance(exc, django_exceptions.ValidationError):
        return _django_validation(exc)
    if isinstance(exc, ServiceError):
        if exc.code == "validation_error" and exc.details:  # named by its field, like every validation error
            return _validation_error(exc.details)
        return ApiError(status_code=exc.http_status, code=exc.code, message=exc.message, details=exc.details)
    if isinstance(exc, Http404):
        return exceptions.NotFound(str(exc) or None)
    if isinstance(exc, django_exceptions.PermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, django_exceptions.RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, django_exceptions.TooManyFieldsSent | django_exceptions.TooManyFilesSent):
        return exceptions.ParseError(str(exc))
    return exc


def error_body(*, code: str, message: str, details: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _body_for(exc: exceptions.APIException) -> dict:
    if isinstance(exc, ApiError):
        return error_body(code=exc.code, message=exc.message, details=exc.details)
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else exc.default_code
    details = {}
    if isinstance(exc, exceptions.Throttled):
        details = {"retry_after": int(exc.wait or 0)}
    return error_body(code=code, message=str(exc.detail), details=details)


def api_exception_handler(exc, context):
    request = context.get("request")
    exc = translate(exc)
    if not isinstance(exc, exceptions.APIException):
        logger.exception("unhandled error in %s", getattr(request, "path", "?"), exc_info=exc)
        return Response(error_body(code="server_error", message="Internal server error."), status=500)
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
    response = Response(_body_for(exc), status=exc.status_code, headers=headers)
    if request is not None:
        audit_failed_write(request=request, view=context.get("view"), status_code=exc.status_code, error=exc)
    return response
