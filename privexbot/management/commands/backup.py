from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from privexbot.audit import audit_record
from privexbot.backups.archive import BackupError, backup_create


class Command(BaseCommand):
    help = (
        "Write an encrypted backup archive (database dump, stored files, manifest with checksums) under BACKUP_KEY "
        "into a folder. Keep BACKUP_KEY and ENCRYPTION_KEY safe and apart: a restore needs both."
    )

    def add_arguments(self, parser):
        parser.add_argument("destination", help="folder to write the backup archive into")

    def handle(self, *args, destination, **opts):
        try:
            archive = backup_create(Path(destination))
        except (BackupError, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from None
        audit_record(event_type="backup", action="create", details={"archive": archive.name})
        self.stdout.write(self.style.SUCCESS(f"backup written to {archive}"))
