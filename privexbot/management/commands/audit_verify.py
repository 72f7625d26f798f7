from django.core.management.base import BaseCommand, CommandError

from privexbot.audit.chain import chain_verify


class Command(BaseCommand):
    help = (
        "Walk the audit log's hash chain and name every event that was altered, removed or inserted; "
        "exits non-zero when the chain is broken."
    )

    def handle(self, *args, **opts):
        result = chain_verify()
        for problem in result.problems:
            self.stderr.write(problem.message)
        if not result.ok:
            raise CommandError(f"audit chain broken: {len(result.problems)} problem(s) in {result.rows} event(s)")
        self.stdout.write(
            self.style.SUCCESS(f"audit chain intact: {result.rows} event(s), head #{result.head_id} {result.head_hash}")
        )
