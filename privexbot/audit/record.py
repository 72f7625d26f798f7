"""`audit_record`: the one way an audit event is written.

It writes on its own connection (settings.AUDIT_DB_ALIAS, a second alias to the same database, autocommit), so
an event is committed at once and survives when the caller's transaction rolls back: a business action that
fails leaves its event (the caller records `success=False` where it knows the action failed). Inserts take one
short transaction-scoped advisory lock, so concurrent writers append to the chain one at a time instead of
forking it (two rows naming the same predecessor); lock, head, id, hash and insert are one statement
(privexbot/audit/append.py), so the lock is held for one round trip. An event whose business transaction then
rolls back gets a second, failed event naming it (privexbot/audit/rollback.py)."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from privexbot.audit import rollback
from privexbot.audit.append import CHAIN_LOCK, append  # noqa: F401  (CHAIN_LOCK: the purge's import)
from privexbot.audit.context import current_request
from privexbot.audit.network import client_ip

logger = logging.getLogger("privexbot.audit")


class AuditFileHandler(logging.FileHandler):
    def __init__(self, filename: str, **kwargs):
        Path(filename).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(filename, delay=True, encoding="utf-8", **kwargs)


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
    rollback.flush_rolled_back()  # earlier events of this thread whose transaction never committed
    # Only the address and user agent come from the request in flight; the user is who the caller names.
    network_request = request if request is not None else current_request()
    if user is None and request is not None and getattr(request, "user", None) is not None:
        user = request.user
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    if organization is None and workspace is not None and hasattr(workspace, "organization_id"):
        organization = workspace.organization_id
    if resource is not None and not resource_type:
        resource_type = type(resource).__name__
    # What jsonb will give back, so the hash written is the hash recomputed from the stored row.
    details = json.loads(json.dumps(details or {}, cls=DjangoJSONEncoder))
    event = AuditEvent(
        timestamp=timezone.now(),
        event_type=event_type,
        action=action,
        user_id=user.pk if user else None,
        username=getattr(user, "username", "") if user else details.get("username", ""),
        organization_id=_uuid_or_none(organization),
        workspace_id=_uuid_or_none(workspace),
        resource_type=resource_type,
        resource_id=_str_id(resource)[:64],
        ip_address=client_ip(network_request),
        user_agent=(network_request.META.get("HTTP_USER_AGENT", "")[:1000] if network_request is not None else ""),
        success=success,
        details=details,
    )
    append(event)  # one round trip: lock, head, id, hash and insert in one statement (audit/append.py)
    rollback.watch(event)
    line = {
        "timestamp": event.timestamp.isoformat(),
        "event_type": event.event_type,
        "user_id": event.user_id,
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
    fields; nothing is written or recorded when there are no changes. A save that fails is recorded as a
    failed update (on the audit connection, so the caller's rollback keeps it) and the error goes on."""
    if not changes:
        return instance
    for field, value in changes.items():
        setattr(instance, field, value)
    fields = sorted(changes)
    try:
        instance.save(update_fields=[*changes, "updated_at"])
    except Exception as exc:
        audit_record(
            event_type=event_type, action="update", user=user, request=request, workspace=workspace,
            resource=instance, success=False, details={"fields": fields, "error": type(exc).__name__},
        )  # fmt: skip
        raise
    audit_record(
        event_type=event_type, action="update", user=user, request=request, workspace=workspace,
        resource=instance, details={"fields": fields},
    )  # fmt: skip
    return instance
