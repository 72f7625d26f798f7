"""Audit trail: every event goes to the AuditEvent table and, as one JSON line, to AUDIT_LOG_FILE."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings

logger = logging.getLogger("privexbot.audit")


class AuditFileHandler(logging.FileHandler):
    def __init__(self, filename: str, **kwargs):
        Path(filename).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(filename, delay=True, encoding="utf-8", **kwargs)


def _client_ip(request) -> str | None:
    if request is None:
        return None
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy rewrites it.
    return request.META.get("REMOTE_ADDR") or None


def _str_id(value) -> str:
    if value is None:
        return ""
    return str(getattr(value, "pk", value))


def _uuid_or_none(value) -> uuid.UUID | None:
    value = getattr(value, "pk", value)
    if value in (None, ""):
        return None
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def audit_record(
    *,
    event_type: str,
    action: str,
    user=None,
    request=None,
    organization=None,
    workspace=None,
    resource=None,
    resource_type: str = "",
    success: bool = True,
    details: dict[str, Any] | None = None,
):
    """Record one event. `workspace` implies its organization when `organization` is not given."""
    from privexbot.models import AuditEvent

    if not settings.ENABLE_AUDIT_LOGGING:
        return None
    if user is None and request is not None and getattr(request, "user", None) is not None:
        user = request.user
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    if organization is None and workspace is not None and hasattr(workspace, "organization_id"):
        organization = workspace.organization_id
    if resource is not None and not resource_type:
        resource_type = type(resource).__name__
    event = AuditEvent.objects.create(
        event_type=event_type,
        action=action,
        user=user,
        username=getattr(user, "username", "") if user else (details or {}).get("username", ""),
        organization_id=_uuid_or_none(organization),
        workspace_id=_uuid_or_none(workspace),
        resource_type=resource_type,
        resource_id=_str_id(resource),
        ip_address=_client_ip(request),
        user_agent=(request.META.get("HTTP_USER_AGENT", "")[:1000] if request is not None else ""),
        success=success,
        details=details or {},
    )
    line = {
        "timestamp": event.timestamp.isoformat(),
        "event_type": event.event_type,
        "user_id": user.pk if user else None,
        "organization_id": _str_id(event.organization_id) or None,
        "workspace_id": _str_id(event.workspace_id) or None,
        "resource_id": event.resource_id or None,
        "action": event.action,
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
        "success": event.success,
        "details": event.details,
    }
    logger.log(logging.INFO if success else logging.WARNING, json.dumps(line, default=str))
    return event


def save_audited(instance, changes: dict, *, event_type: str, user, request=None, workspace=None):
    """Write `changes` (field -> validated value) to `instance` and record one "update" event naming the
    fields; nothing is written or recorded when there are no changes."""
    if not changes:
        return instance
    for field, value in changes.items():
        setattr(instance, field, value)
    instance.save(update_fields=[*changes, "updated_at"])
    audit_record(
        event_type=event_type, action="update", user=user, request=request, workspace=workspace,
        resource=instance, details={"fields": sorted(changes)},
    )  # fmt: skip
    return instance
