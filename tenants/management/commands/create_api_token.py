from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from privexbot.errors import ServiceError
from tenants.models import Scope
from tenants.tokens import api_token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--expires-in", type=int, metavar="DAYS",
            help=f"days until it expires (default and maximum: API_TOKEN_MAX_DAYS, now {settings.API_TOKEN_MAX_DAYS})",
        )  # fmt: skip
        parser.add_argument(
            "--never-expires", action="store_true", help="only when API_TOKEN_ALLOW_NEVER_EXPIRES is on"
        )
        parser.add_argument(
            "--scope", dest="scopes", action="append", choices=Scope.values,
            help="search, read, write or admin (repeatable; the highest counts; default: read)",
        )  # fmt: skip
        parser.add_argument("--kb", dest="kb_ids", action="append", metavar="KB_ID", help="limit it to this KB")
        parser.add_argument("--name", default="", help="a label to recognise the token by")

    def handle(self, *args, **opts):
        user = get_user_model().objects.filter(username=opts["username"], is_active=True).first()
        if user is None:
            raise CommandError(f"no active user {opts['username']!r}")
        days = opts["expires_in"]
        if days is not None and not 1 <= days <= 3650:
            raise CommandError("--expires-in must be from 1 to 3650 days")
        try:
            row, token = api_token_create(
                user=user, name=opts["name"], scopes=opts["scopes"], kb_ids=opts["kb_ids"], expires_in_days=days,
                never_expires=opts["never_expires"],
            )  # fmt: skip
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        expiry = row.expires_at.isoformat() if row.expires_at else "never"
        self.stderr.write(
            f"Token {row.prefix}… for {user.username} (scopes: {', '.join(row.scopes)}; expires: {expiry}). "
            "It is shown once:"
        )
        self.stdout.write(token)
