"""A lockout, whatever locked out (an account, an address on the login page, an address sending bad API keys):
counted in `privexbot_lockouts_total{channel}` and audited as `auth/lockout` with its channel, in one place."""

from __future__ import annotations

from privexbot.audit.record import audit_record
from privexbot.metrics.definitions import LOCKOUTS


def record_lockout(*, channel: str, request, details: dict) -> None:
    LOCKOUTS.labels(channel=channel).inc()
    audit_record(
        event_type="auth", action="lockout", request=request, success=False, details={"channel": channel, **details}
    )
