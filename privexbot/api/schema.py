"""OpenAPI: every operation documents the shared error shape for the statuses it can return, and the API key
scope it needs (`x-required-scope`, and a line of its description)."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema

from privexbot.api import auth  # noqa: F401  (registers the bearer-token security scheme)
from privexbot.api.scopes import required_scope


class ScopedAutoSchema(AutoSchema):
    """Reads the scope from the same declaration the permission enforces (privexbot.api.scopes)."""

    def _scope(self) -> str:
        return required_scope(self.view, self.method)

    def get_description(self):
        line = f"API key scope needed: `{self._scope()}` (a browser session is limited by its role only)."
        return "\n\n".join(filter(None, [super().get_description(), line]))

    def get_extensions(self):
        return {**super().get_extensions(), "x-required-scope": self._scope()}


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "example": "validation_error"},
                "message": {"type": "string"},
                "details": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "field name (dotted for nested fields) -> messages, or extra facts",
                },
            },
        }
    },
}
COMMON = {
    "400": "Invalid input (the details name each field)",
    "401": "Not authenticated",
    "403": "Your role, or your API key's scope, does not allow this",
    "404": "Not found (or not visible to you)",
    "429": "Too many requests (see Retry-After)",
}
UPLOAD = {"413": "File larger than MAX_FILE_SIZE", "415": "File type not allowed or content does not match its name"}


def add_error_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            statuses = dict(COMMON)
            if path.endswith("/sources/upload"):
                statuses.update(UPLOAD)
            if method != "get":
                statuses["413"] = statuses.get("413", "Request body too large")
            responses = operation.setdefault("responses", {})
            for code, text in statuses.items():
                responses.setdefault(code, {"description": text, "content": {"application/json": {"schema": ref}}})
    return result
