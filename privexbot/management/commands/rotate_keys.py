from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from privexbot.audit import audit_record
from privexbot.storage import get_storage, storage_rotate_keys


class Command(BaseCommand):
    help = (
        'After adding a new master key in front of ENCRYPTION_KEY ("NEW,OLD"): re-encrypt every stored file '
        "still under an old key with NEW. Safe to run again (files already under NEW are only counted); once it "
        "reports no file left on an old key and no failure, remove OLD from ENCRYPTION_KEY."
    )

    def handle(self, *args, **opts):
        if not settings.ENCRYPT_FILES_AT_REST:
            raise CommandError(
                "ENCRYPT_FILES_AT_REST is false: files are stored unencrypted, there is nothing to rotate"
            )
        try:
            report = storage_rotate_keys(storage=get_storage())
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        details = {
            "files": report.total,
            "rewrapped": report.rewrapped,
            "current": report.current,
            "plain": report.plain,
            "failed": len(report.failed),
        }
        audit_record(event_type="encryption", action="rotate_keys", success=not report.failed, details=details)
        self.stdout.write(
            f"{report.total} stored files: {report.rewrapped} moved to the new key, {report.current} already on it, "
            f"{report.plain} not encrypted, {len(report.failed)} failed"
        )
        for rel, reason in sorted(report.failed.items()):
            self.stderr.write(f"  {rel}: {reason}")
        if report.failed:
            raise CommandError(f"{len(report.failed)} files could not be moved to the new key (listed above)")
        self.stdout.write(self.style.SUCCESS("every encrypted file is under the first ENCRYPTION_KEY"))
