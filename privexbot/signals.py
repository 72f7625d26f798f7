from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from privexbot.audit import audit_record


@receiver(user_logged_in)
def _on_login(sender, request, user, **kwargs):
    audit_record(event_type="authentication", action="login", user=user, request=request)


@receiver(user_logged_out)
def _on_logout(sender, request, user, **kwargs):
    audit_record(event_type="authentication", action="logout", user=user, request=request)


@receiver(user_login_failed)
def _on_login_failed(sender, credentials, request=None, **kwargs):
    # Never log the password; the attempted username is what an investigator needs.
    audit_record(
        event_type="authentication",
        action="login_failed",
        request=request,
        success=False,
        details={"username": str(credentials.get("username", ""))[:150]},
    )
