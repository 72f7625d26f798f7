from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from privexbot.audit import audit_record
from privexbot.backups.archive import BackupError, backup_restore


class Command(BaseCommand):
    help = (
        "Restore a backup archive made by `manage.py backup` into an empty database and empty file storage, then "
        "check that counts and checksums equal the backup's. Needs the BACKUP_KEY it was made with."
    )

    def add_arguments(self, parser):
        parser.add_argument("archive", help="the backup archive (privexbot-backup-....tar)")
        parser.add_argument(
            "--replace", action="store_true", help="replace the data this installation holds now (asks first)"
        )
        parser.add_argument("--yes", action="store_true", help="with --replace: do not ask for confirmation")
        parser.add_argument(
            "--discard-newer-audit", action="store_true",
            help="with --replace: go on although the live audit log holds events the backup does not have "
            "(they are discarded; the restore's event records how many)",
        )  # fmt: skip

    def handle(self, *args, archive, replace, yes, discard_newer_audit, **opts):
        if replace and not yes and input("This replaces all current data. Type 'restore' to go on: ") != "restore":
            raise CommandError("cancelled")
        try:
            report = backup_restore(Path(archive), replace=replace, discard_newer_audit=discard_newer_audit)
        except (BackupError, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from None
        audit_record(
            event_type="backup", action="restore", success=report.audit["chain_verified"],
            details={"archive": Path(archive).name, **report.counts, "audit": report.audit},
        )  # fmt: skip
        if not report.audit["chain_verified"]:
            self.stderr.write(
                "the restored audit log does not verify: " + "; ".join(report.audit["chain_problems"])
            )  # fmt: skip
        if report.audit["discarded_events"]:
            self.stderr.write(f"discarded {report.audit['discarded_events']} newer audit event(s)")
        counts = ", ".join(f"{label.split('.')[-1]}: {n}" for label, n in report.counts.items())
        self.stdout.write(
            self.style.SUCCESS(f"restored {Path(archive).name}; verified {counts}; files: {report.files}")
        )
