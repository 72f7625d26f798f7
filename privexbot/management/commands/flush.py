"""Django's `flush`, which the append-only audit table refuses (its trigger rejects TRUNCATE): emptying the
database must not erase the audit history. The test runner ends every transactional test with a flush, so under
the test settings (AUDIT_TEST_FLUSH) the purge flag is set for the flush's session and cleared after it."""

from django.conf import settings
from django.core.management.commands.flush import Command as DjangoFlush
from django.db import connections


class Command(DjangoFlush):
    def handle(self, **options):
        if not settings.AUDIT_TEST_FLUSH:
            return super().handle(**options)
        connection = connections[options["database"]]
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('privexbot.audit_purge', 'on', false)")
        try:
            return super().handle(**options)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('privexbot.audit_purge', '', false)")
