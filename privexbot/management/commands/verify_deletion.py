from django.core.management.base import BaseCommand, CommandError

from privexbot.receipts import receipt_signature_valid
from privexbot.traces import receipt_load, scan_all


class Command(BaseCommand):
    help = (
        "Check a deletion receipt (a downloaded JSON file or a receipt id): its signature, then every store — "
        "PostgreSQL tables, the search indexes, file storage (every file decrypted and hashed), Redis, temporary "
        "directories — for the hashes and ids it lists. Prints what each store holds; exits 0 with '0 traces'."
    )

    def add_arguments(self, parser):
        parser.add_argument("receipt", help="path of a receipt JSON file, or a receipt id")

    def handle(self, *args, receipt, **opts):
        try:
            body, signature, source = receipt_load(receipt)
        except (LookupError, ValueError, KeyError) as exc:
            raise CommandError(str(exc)) from exc
        if not receipt_signature_valid(body, signature):
            raise CommandError(f"{source}: the signature does not match (altered, or signed with another key)")
        self.stdout.write(f"{source}: signature valid ({body['scope']}, {body['created_at']}, {body['reason']})")
        total = 0
        for report in scan_all(body):
            total += len(report.traces)
            self.stdout.write(f"{report.store}: {len(report.traces)} traces — {report.scanned}")
            for line in report.traces:
                self.stdout.write(f"  TRACE {line}")
            for line in report.expected:
                self.stdout.write(f"  expected (metadata, not content) {line}")
        if total:
            raise CommandError(f"{total} traces of the deleted data remain (listed above)")
        self.stdout.write(self.style.SUCCESS("0 traces"))
