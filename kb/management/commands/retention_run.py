import json

from django.core.management.base import BaseCommand, CommandError

from kb.retention import retention_run


class Command(BaseCommand):
    help = (
        "Apply the retention policies now (what the periodic job does every RETENTION_INTERVAL): delete the "
        "documents past their workspace's or KB's policy, except in KBs under legal hold, and purge audit events "
        "older than AUDIT_RETENTION_DAYS. --dry-run lists what would be deleted and changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="report what would be deleted; delete nothing")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, **opts):
        report = retention_run(dry_run=opts["dry_run"])
        if opts["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
            return
        verb = "would delete" if report.dry_run else "deleted"
        self.stdout.write(
            f"Retention {verb} {report.deleted_total} documents in {len(report.deleted)} knowledge bases."
        )
        for kb_id, count in sorted(report.deleted.items()):
            self.stdout.write(f"  {kb_id}: {count}")
        for kb_id, count in sorted(report.held.items()):
            self.stdout.write(f"  {kb_id}: {count} due but kept (legal hold)")
        for kb_id, problems in sorted(report.errors.items()):
            for problem in problems:
                self.stderr.write(f"  {kb_id}: not deleted: {problem}")
        if not report.dry_run:
            self.stdout.write(f"Audit events purged (older than the audit retention): {report.audit_purged}.")
        if report.errors:
            raise CommandError(f"{sum(map(len, report.errors.values()))} documents could not be deleted")
