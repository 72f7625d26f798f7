"""Write everything a user owns to one zip (pages.user_export; audited as a data export)."""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from pages.user_export import user_export
from privexbot.private_output import OutputExists, private_output


class Command(BaseCommand):
    help = (
        "Export everything a user owns (data portability): profile.json, audit.jsonl, drafts.json and one KB "
        "archive per knowledge base they created and can still read."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("path", help="the zip to write (a new file)")
        parser.add_argument("--no-files", action="store_true", help="KB archives without the original files")
        parser.add_argument("--force", action="store_true", help="overwrite an existing file")

    def handle(self, *args, **opts):
        user = get_user_model().objects.filter(username=opts["username"]).first()
        if user is None:
            raise CommandError(f"no user {opts['username']!r}")
        path = Path(opts["path"])
        try:
            with private_output(path, overwrite=opts["force"]) as out:
                summary = user_export(user=user, out=out, include_files=not opts["no_files"], door="command")
        except OutputExists as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"exported {user.get_username()}: {summary['knowledge_bases']} knowledge base(s), {summary['drafts']} "
            f"draft(s), {summary['audit_events']} audit event(s) → {path}"
        )
