"""One round trip per audit event: `privexbot_audit_append` takes the chain lock, reads the chain head, draws the
next id, computes the row hash and inserts the row, all in one statement (privexbot/audit/append.py).

The hash is the same sha256 as privexbot.audit.chain.row_hash: Python sends the canonical form split around the
id (which only the database knows), the function joins the three with the previous hash. Each statement of a
plpgsql function takes a new snapshot (READ COMMITTED), so the head it reads after the lock is the latest row."""

from django.db import migrations

APPEND = r"""
CREATE OR REPLACE FUNCTION privexbot_audit_append(lock_key bigint, head text, tail text, fields jsonb)
RETURNS TABLE (new_id bigint, new_prev_hash text, new_row_hash text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    prev text;
    nid bigint;
    digest text;
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    SELECT e.row_hash INTO prev FROM privexbot_auditevent e ORDER BY e.id DESC LIMIT 1;
    prev := coalesce(prev, repeat('0', 64));
    nid := nextval(pg_get_serial_sequence('privexbot_auditevent', 'id'));
    digest := encode(sha256(convert_to(prev || E'\n' || head || nid::text || tail, 'UTF8')), 'hex');
    INSERT INTO privexbot_auditevent
    SELECT * FROM jsonb_populate_record(
        NULL::privexbot_auditevent,
        fields || jsonb_build_object('id', nid, 'prev_hash', prev, 'row_hash', digest)
    );
    RETURN QUERY SELECT nid, prev, digest;
END
$$;
"""

DROP_APPEND = "DROP FUNCTION IF EXISTS privexbot_audit_append(bigint, text, text, jsonb);"


class Migration(migrations.Migration):
    dependencies = [("privexbot", "0004_deletion_receipts")]

    operations = [migrations.RunSQL(APPEND, DROP_APPEND)]
