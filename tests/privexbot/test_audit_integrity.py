"""The audit table is append-only (a trigger), hash-chained (`audit_verify` names what was changed), and written
on its own connection so that an event outlives the caller's rollback."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import ProgrammingError, connection, transaction
from django.test import RequestFactory
from django.utils import timezone

from privexbot.audit import audit_purge, audit_record, client_ip
from privexbot.audit.chain import GENESIS, HASHED_FIELDS, chain_verify, row_hash
from privexbot.models import AuditEvent
from tests.conftest import make_user


@pytest.fixture(autouse=True)
def _no_leftover_rollbacks():
    """The rolled-back events a thread remembers (privexbot/audit/rollback.py) never carry over between tests."""
    from privexbot.audit import rollback

    rollback._pending().clear()
    yield
    rollback._pending().clear()


def _events(n: int, **kwargs) -> list[AuditEvent]:
    return [audit_record(event_type="document_access", action="read", resource=f"r-{i}", **kwargs) for i in range(n)]


def _raw(sql: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _without_trigger(sql: str, params=()) -> None:
    """What someone with database access could do: switch the trigger off, write, switch it back on."""
    _raw("ALTER TABLE privexbot_auditevent DISABLE TRIGGER USER")
    try:
        _raw(sql, params)
    finally:
        _raw("ALTER TABLE privexbot_auditevent ENABLE TRIGGER USER")


@pytest.mark.django_db
def test_update_delete_and_truncate_are_refused():
    event = _events(1)[0]
    attempts = [
        lambda: AuditEvent.objects.filter(pk=event.pk).update(success=False),
        lambda: AuditEvent.objects.filter(pk=event.pk).delete(),
        lambda: event.delete(),
        lambda: _raw("UPDATE privexbot_auditevent SET action = 'x'"),
        lambda: _raw("DELETE FROM privexbot_auditevent"),
        lambda: _raw("TRUNCATE privexbot_auditevent"),
    ]
    for attempt in attempts:
        with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic():
            attempt()
    event.refresh_from_db()
    assert event.action == "read" and event.success is True


@pytest.mark.django_db
def test_rows_are_chained_and_an_untouched_chain_verifies(capsys):
    events = _events(3)
    assert events[0].prev_hash == GENESIS
    assert [e.prev_hash for e in events[1:]] == [e.row_hash for e in events[:-1]]
    stored = AuditEvent.objects.filter(pk=events[1].pk).values(*HASHED_FIELDS).get()
    assert row_hash(events[1].prev_hash, stored) == events[1].row_hash  # recomputed from what PostgreSQL holds
    call_command("audit_verify")
    assert "audit chain intact: 3 event(s)" in capsys.readouterr().out


@pytest.mark.django_db
def test_audit_verify_names_altered_removed_and_inserted_rows(capsys):
    events = _events(4)
    # A gap in the ids, where a forged row can later be slipped in between two real ones.
    _raw("SELECT setval(pg_get_serial_sequence('privexbot_auditevent', 'id'), %s)", [events[-1].pk + 5])
    events += _events(2)
    altered, removed, before_gap, after_gap = events[1], events[2], events[3], events[4]

    _without_trigger("UPDATE privexbot_auditevent SET success = false WHERE id = %s", [altered.pk])
    _without_trigger("DELETE FROM privexbot_auditevent WHERE id = %s", [removed.pk])
    # The forger knows the algorithm: the row links to its predecessor and carries a correct hash of itself.
    forged = AuditEvent(
        id=before_gap.pk + 1, timestamp=timezone.now(), event_type="document_access", action="read",
        resource_id="forged", prev_hash=before_gap.row_hash,
    )  # fmt: skip
    forged.row_hash = row_hash(forged.prev_hash, {name: getattr(forged, name) for name in HASHED_FIELDS})
    forged.save(force_insert=True)

    result = chain_verify()
    named = {(p.kind, p.event_id) for p in result.problems}
    assert named == {("altered", altered.pk), ("removed", before_gap.pk), ("inserted", forged.pk)}
    with pytest.raises(CommandError, match="audit chain broken: 3 problem"):
        call_command("audit_verify")
    err = capsys.readouterr().err
    assert f"event #{altered.pk} does not match its hash" in err
    assert f"between #{altered.pk} and #{before_gap.pk} were removed" in err
    assert f"event #{forged.pk} is not part of the chain: inserted" in err
    assert after_gap.prev_hash == before_gap.row_hash


@pytest.mark.django_db
def test_purge_is_the_only_delete_and_leaves_a_verifiable_chain():
    old = _events(3)
    _without_trigger(
        "UPDATE privexbot_auditevent SET timestamp = timestamp - interval '10 days' WHERE id <= %s", [old[-1].pk]
    )  # aged by hand (which breaks their hashes): the purge removes exactly these, and the rest verifies alone
    recent = _events(2)
    assert audit_purge(before=timezone.now() - timedelta(days=5)) == 3
    remaining = list(AuditEvent.objects.order_by("id"))
    assert [e.pk for e in remaining[:2]] == [e.pk for e in recent]
    purge = remaining[-1]
    assert (purge.event_type, purge.action, purge.details["count"]) == ("audit", "purge", 3)
    assert purge.details["through_hash"] == recent[0].prev_hash
    assert chain_verify().ok
    with pytest.raises(ProgrammingError), transaction.atomic():
        AuditEvent.objects.all().delete()  # the purge flag ended with the purge's transaction


@pytest.mark.django_db
def test_deleting_the_user_keeps_the_link_and_the_chain():
    user = make_user("leaver")
    event = audit_record(event_type="auth", action="login", user=user)
    user_pk = user.pk
    user.delete()
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.user_id, stored.username) == (user_pk, "leaver")
    assert chain_verify().ok


@pytest.mark.django_db(transaction=True, databases=["default", "audit"])
def test_an_event_survives_the_callers_rollback(settings):
    settings.AUDIT_DB_ALIAS = "audit"  # the production path: its own autocommit connection
    user = make_user("rollback")

    class Failed(Exception):
        pass

    with pytest.raises(Failed), transaction.atomic():
        make_user("never-saved")
        audit_record(event_type="document", action="delete", user=user, success=False, details={"why": "test"})
        raise Failed
    event = AuditEvent.objects.get(action="delete")
    assert (event.success, event.user_id) == (False, user.pk)
    assert not type(user).objects.filter(username="never-saved").exists()
    assert chain_verify().ok


@pytest.mark.django_db(transaction=True, databases=["default", "audit"])
def test_an_event_whose_transaction_rolls_back_is_followed_by_a_failed_event(settings):
    from privexbot.audit.rollback import flush_rolled_back

    settings.AUDIT_DB_ALIAS = "audit"
    user = make_user("rollback")
    with transaction.atomic():
        audit_record(event_type="knowledge_base", action="update", user=user, resource="kept")
    with pytest.raises(RuntimeError), transaction.atomic():
        claimed = audit_record(event_type="knowledge_base", action="delete", user=user, resource="kb-1")
        raise RuntimeError("the delete failed after its event")
    with transaction.atomic(), pytest.raises(RuntimeError), transaction.atomic():  # a savepoint undone, then commit
        inner = audit_record(event_type="document", action="delete", user=user, resource="doc-1")
        raise RuntimeError
    assert flush_rolled_back() == 2
    failed = list(AuditEvent.objects.filter(success=False).order_by("id"))
    assert [(e.action, e.resource_id, e.details["rolled_back_event"]) for e in failed] == [
        ("delete", "kb-1", claimed.pk), ("delete", "doc-1", inner.pk)
    ]  # fmt: skip
    assert all(e.user_id == user.pk and e.username == "rollback" for e in failed)
    assert AuditEvent.objects.filter(action="update", success=True).count() == 1  # committed: nothing more
    assert flush_rolled_back() == 0 and chain_verify().ok


@pytest.mark.django_db(transaction=True, databases=["default", "audit"])
def test_concurrent_writers_never_fork_the_chain(settings):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    settings.AUDIT_DB_ALIAS = "audit"

    def write(n: int) -> None:
        try:
            for i in range(10):
                audit_record(event_type="document_access", action="read", resource=f"w{n}-{i}")
        finally:
            connections.close_all()  # this thread's connections

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(write, range(6)))
    prev = list(AuditEvent.objects.order_by("id").values_list("prev_hash", flat=True))
    assert len(prev) == 60 and len(set(prev)) == 60  # no two rows name the same predecessor
    assert chain_verify().ok


def test_client_ip_believes_forwarded_for_only_from_trusted_proxies(settings):
    factory = RequestFactory()
    forwarded = {"HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.7, 10.0.0.2"}
    settings.TRUSTED_PROXIES = []
    assert client_ip(factory.get("/", REMOTE_ADDR="10.0.0.1", **forwarded)) == "10.0.0.1"
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    assert client_ip(factory.get("/", REMOTE_ADDR="10.0.0.1", **forwarded)) == "203.0.113.7"  # not the spoofed one
    assert client_ip(factory.get("/", REMOTE_ADDR="198.51.100.1", **forwarded)) == "198.51.100.1"  # untrusted peer
    assert client_ip(factory.get("/", REMOTE_ADDR="10.0.0.1")) == "10.0.0.1"


@pytest.mark.slow
def test_restore_never_rewrites_the_audit_log_silently(settings, tmp_path, transactional_db):
    import base64
    import os

    from privexbot.storage import reset_storage

    settings.BACKUP_KEY = base64.b64encode(os.urandom(32)).decode()
    settings.STORAGE_BACKEND, settings.STORAGE_DIR = "local", tmp_path / "storage"
    reset_storage()
    try:
        _events(2)
        backed_up = chain_verify()  # the backup holds this chain; its own event comes after the dump
        call_command("backup", str(tmp_path / "backups"), stdout=io.StringIO())
        archive = next((tmp_path / "backups").glob("*.tar"))
        newer = _events(3)  # recorded after the backup: a restore would discard them

        with pytest.raises(CommandError, match="holds 4 event"):  # 3 + the backup's own event
            call_command("restore", str(archive), "--replace", "--yes", stdout=io.StringIO())
        assert AuditEvent.objects.filter(pk=newer[-1].pk).exists()  # refused before anything was touched

        err = io.StringIO()
        call_command(
            "restore", str(archive), "--replace", "--yes", "--discard-newer-audit", stdout=io.StringIO(), stderr=err
        )
        assert "discarded 4 newer audit event(s)" in err.getvalue()
        event = AuditEvent.objects.get(event_type="backup", action="restore")
        audit = event.details["audit"]
        assert (audit["backup"], audit["discarded_events"], audit["chain_verified"]) == (archive.name, 4, True)
        assert audit["head_before"]["id"] > audit["head_after"]["id"]
        assert audit["head_after"] == {"id": backed_up.head_id, "hash": backed_up.head_hash}
        assert event.prev_hash == audit["head_after"]["hash"] and event.success
        assert chain_verify().ok
    finally:
        reset_storage()
