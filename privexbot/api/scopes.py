"""Which API key scope a route needs: what the permission enforces and the OpenAPI schema documents.

A view says it with `required_scope`: one scope name for all its methods, or {method: scope} for some of
them. Undeclared methods need "read" when they are safe (GET, HEAD, OPTIONS) and "write" otherwise. The
scope names and their order belong to tenants (tenants.models.Scope); this layer only reads the
declaration, so the schema and the permission can never disagree.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS

DEFAULT_SAFE = "read"
DEFAULT_UNSAFE = "write"


def required_scope(view, method: str) -> str:
    declared = getattr(view, "required_scope", None)
    if isinstance(declared, dict):
        declared = declared.get(method.lower())
    if declared:
        return str(declared)
    return DEFAULT_SAFE if method.upper() in SAFE_METHODS else DEFAULT_UNSAFE
