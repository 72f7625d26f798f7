"""Receivers: the login stamp of each session, and the audit events of password and MFA changes."""

from __future__ import annotations

from allauth.account import signals as account_signals
from allauth.mfa import signals as mfa_signals
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from privexbot.audit import audit_record
from tenants.identity import sessions


@receiver(user_logged_in)
def _stamp_session(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        sessions.stamp_login(request.session)


def _password_event(action):
    def record(sender, request, user, **kwargs):
        # A changed password also ends the user's other sessions: Django's session hash includes it.
        audit_record(event_type="authentication", action=action, user=user, request=request)

    return record


_on_password_changed = _password_event("password_change")
_on_password_reset = _password_event("password_reset")
_on_password_set = _password_event("password_set")
account_signals.password_changed.connect(_on_password_changed, dispatch_uid="identity-password-changed")
account_signals.password_reset.connect(_on_password_reset, dispatch_uid="identity-password-reset")
account_signals.password_set.connect(_on_password_set, dispatch_uid="identity-password-set")


def _mfa_event(action):
    def record(sender, request, user, authenticator, **kwargs):
        audit_record(
            event_type="mfa",
            action=action,
            user=user,
            request=request,
            resource=authenticator,
            details={"type": authenticator.type},
        )

    return record


_on_mfa_added = _mfa_event("enrol")
_on_mfa_removed = _mfa_event("remove")
_on_mfa_reset = _mfa_event("regenerate")
mfa_signals.authenticator_added.connect(_on_mfa_added, dispatch_uid="identity-mfa-added")
mfa_signals.authenticator_removed.connect(_on_mfa_removed, dispatch_uid="identity-mfa-removed")
mfa_signals.authenticator_reset.connect(_on_mfa_reset, dispatch_uid="identity-mfa-reset")


@receiver(mfa_signals.authentication_failed, dispatch_uid="identity-mfa-failed")
def _on_mfa_failed(sender, request, user, authenticator=None, **kwargs):
    audit_record(
        event_type="authentication",
        action="mfa_failed",
        user=user,
        request=request,
        success=False,
        details={"type": getattr(authenticator, "type", "")},
    )
