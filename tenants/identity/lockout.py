"""What a locked-out account sees (axes' AXES_LOCKOUT_CALLABLE), and the audit event of each lockout."""

from __future__ import annotations

import math

from axes.helpers import get_client_username
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.db.models import Max
from django.dispatch import receiver
from django.shortcuts import render
from django.utils import timezone

from privexbot.audit import record_lockout


def retry_at(username: str):
    """When the account's cool-down ends: its last counted failure plus AXES_COOLOFF_TIME (attempts made
    while locked are not counted: AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT is off)."""
    last = AccessAttempt.objects.filter(username=username).aggregate(last=Max("attempt_time"))["last"]
    return (last or timezone.now()) + settings.AXES_COOLOFF_TIME


def lockout_response(request, original_response=None, credentials=None):
    username = get_client_username(request, credentials) or ""
    when = retry_at(username)
    minutes = max(1, math.ceil((when - timezone.now()).total_seconds() / 60))
    context = {"username": username, "retry_at": when, "minutes": minutes}
    response = render(request, "account/lockout.html", context, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response


@receiver(user_locked_out)
def _on_locked_out(sender, request, username, ip_address, **kwargs):
    # axes sends this for the failure that locks the account and again for every attempt while it is locked;
    # only the first has a failure count (the later ones are refused before anything is counted).
    if getattr(request, "axes_failures_since_start", None) is None:
        return
    record_lockout(
        channel="login",
        request=request,
        details={
            "username": str(username or "")[:150],
            "ip": ip_address,
            "scope": "account",
            "failures": request.axes_failures_since_start,
            "retry_at": retry_at(username).isoformat(),
        },
    )
