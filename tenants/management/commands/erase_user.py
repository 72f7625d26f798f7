"""Erase a user's account (tenants.erasure), as the operator: the right to erasure asked for outside the app."""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from privexbot.errors import ServiceError
from tenants.erasure import CONTENT_CHOICES, user_erase


class Command(BaseCommand):
    help = (
        "Erase an account: deactivate it and remove its personal data (the audit log keeps a pseudonymous id). "
        "--content keep leaves the KBs and drafts it created with their workspaces; delete removes them "
        "through the deletion service (signed receipts)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--content", required=True, choices=CONTENT_CHOICES, help="keep or delete")

    def handle(self, *args, **opts):
        user = get_user_model().objects.filter(username=opts["username"]).first()
        if user is None:
            raise CommandError(f"no user {opts['username']!r}")
        try:
            result = user_erase(user=user, actor=None, content=opts["content"], door="command")
        except ServiceError as exc:
            raise CommandError(f"not erased: {exc.message}") from None
        except (PermissionDenied, ValidationError) as exc:
            raise CommandError(f"not erased: {'; '.join(getattr(exc, 'messages', [str(exc)]))}") from None
        counts = ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items()) if not isinstance(v, list))
        self.stdout.write(self.style.SUCCESS(f"erased: the account is now {result.pseudonym} ({counts})"))
        for receipt_id in result.counts.get("receipt_ids", []):
            self.stdout.write(f"deletion receipt {receipt_id}")
