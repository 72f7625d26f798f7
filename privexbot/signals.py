from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver

from privexbot.admin_base import audit_admin_entry
from privexbot.audit import audit_record
from privexbot.metrics.definitions import ADMIN_ACTIONS, AUTH_FAILURES


@receiver(user_logged_in)
def _on_login(sender, request, user, **kwargs):
    audit_record(event_type="authentication", action="login", user=user, request=request)


@receiver(user_logged_out)
def _on_logout(sender, request, user, **kwargs):
    audit_record(event_type="authentication", action="logout", user=user, request=request)


@receiver(user_login_failed)
def _on_login_failed(sender, credentials, request=None, **kwargs):
    AUTH_FAILURES.labels(channel="login").inc()
    # Never log the password; the attempted username is what an investigator needs.
    audit_record(
        event_type="authentication",
        action="login_failed",
        request=request,
        success=False,
        details={"username": str(credentials.get("username", ""))[:150]},
    )


_ADMIN_ACTIONS = {ADDITION: "add", CHANGE: "change", DELETION: "delete"}


@receiver(post_save, sender=LogEntry)
def _on_admin_action(sender, instance, created, **kwargs):
    # Every admin add/change/delete writes one LogEntry. (Django writes a bulk "delete selected" of several rows
    # with bulk_create, which sends no signal: those deletes are not counted here; the audit log has them.)
    if created and instance.action_flag in _ADMIN_ACTIONS:
        ADMIN_ACTIONS.labels(action=_ADMIN_ACTIONS[instance.action_flag]).inc()
        audit_admin_entry(instance)  # every admin change, whatever app registered the model
