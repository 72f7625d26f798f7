"""Audit integrity: the hash chain columns (existing rows are chained in id order), a user link that survives
the user's deletion (no constraint, never nulled), and the trigger that makes the table append-only.

The trigger refuses UPDATE always, and DELETE / TRUNCATE unless the transaction set
`privexbot.audit_purge = 'on'`, which only privexbot.audit.purge.audit_purge does (and the test runner's flush,
under the test settings only)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION privexbot_auditevent_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE') AND current_setting('privexbot.audit_purge', true) = 'on' THEN
        IF TG_LEVEL = 'ROW' THEN
            RETURN OLD;
        END IF;
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'privexbot_auditevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'audit events are removed only by the retention purge (AUDIT_RETENTION_DAYS)';
END
$$;
CREATE TRIGGER privexbot_auditevent_append_only_rows
    BEFORE UPDATE OR DELETE ON privexbot_auditevent
    FOR EACH ROW EXECUTE FUNCTION privexbot_auditevent_append_only();
CREATE TRIGGER privexbot_auditevent_append_only_truncate
    BEFORE TRUNCATE ON privexbot_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION privexbot_auditevent_append_only();
"""

DROP_APPEND_ONLY = """
DROP TRIGGER IF EXISTS privexbot_auditevent_append_only_truncate ON privexbot_auditevent;
DROP TRIGGER IF EXISTS privexbot_auditevent_append_only_rows ON privexbot_auditevent;
DROP FUNCTION IF EXISTS privexbot_auditevent_append_only();
"""


def chain_existing(apps, schema_editor):
    # The canonical form lives in privexbot.audit.chain: rows chained here verify with the same code later.
    from privexbot.audit.chain import GENESIS, HASHED_FIELDS, row_hash

    AuditEvent = apps.get_model("privexbot", "AuditEvent")
    prev = GENESIS
    for event in AuditEvent.objects.using(schema_editor.connection.alias).order_by("id").iterator(chunk_size=2000):
        values = {name: getattr(event, name) for name in HASHED_FIELDS}
        event.prev_hash, event.row_hash = prev, row_hash(prev, values)
        event.save(update_fields=["prev_hash", "row_hash"])
        prev = event.row_hash


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("privexbot", "0002_stored_blobs"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="timestamp",
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="user",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(default="", editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="row_hash",
            field=models.CharField(default="", editable=False, max_length=64),
        ),
        migrations.RunPython(chain_existing, migrations.RunPython.noop),
        migrations.RunSQL(APPEND_ONLY, DROP_APPEND_ONLY),
    ]
