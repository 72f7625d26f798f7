from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from tenants.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--expires-in", type=int, metavar="DAYS", help="days until it expires (default: never)")
        parser.add_argument("--name", default="", help="a label to recognise the token by")

    def handle(self, *args, **opts):
        user = get_user_model().objects.filter(username=opts["username"], is_active=True).first()
        if user is None:
            raise CommandError(f"no active user {opts['username']!r}")
        days = opts["expires_in"]
        if days is not None and not 1 <= days <= 3650:
            raise CommandError("--expires-in must be from 1 to 3650 days")
        row, token = api_token_create(user=user, name=opts["name"], expires_in_days=days)
        expiry = row.expires_at.isoformat() if row.expires_at else "never"
        self.stderr.write(f"Token {row.prefix}… for {user.username} (expires: {expiry}). It is shown once:")
        self.stdout.write(token)
