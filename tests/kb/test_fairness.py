"""Fairness between tenants (issue 15): one workspace's slow hostile PDFs hold at most PARSE_SLOTS_PER_WORKSPACE
parse slots, so another workspace's document still reaches `ready` while they grind — with two real workers.

The slow PDF is 9 KB and one page whose content stream holds 300,000 text-show operators: pdfminer spends about
40 s of CPU on it before giving up on "no text". Without the cap both workers would sit on such files and the
other tenant would wait for them: run by hand with PARSE_SLOTS_PER_WORKSPACE=0 this test fails, the quiet
tenant's document ready after 61.5 s against 7.8 s with the cap."""

import io
import time
import zlib

import pytest

from kb.models import Document, DocumentStatus
from kb.services import document_create_from_file, document_create_from_text, kb_create
from privexbot import slots
from tests.conftest import make_tenant
from tests.hostile_files import FONT, pdf_from_objects, stream


def slow_pdf() -> bytes:
    ops = b"BT /F1 1 Tf " + b"1 0 Td (x) Tj " * 300_000 + b"ET"
    return pdf_from_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> "
        b"/Contents 4 0 R >>",
        stream(zlib.compress(ops, 9), b"/Filter /FlateDecode"),
        FONT,
    ])  # fmt: skip


@pytest.mark.django_db
def test_a_workspace_holds_at_most_its_limit_of_slots_and_a_lease_that_runs_out_frees_itself(settings):
    owner = f"test-{time.time_ns()}"
    first = slots.slot_acquire(kind="parse", owner=owner, limit=2, lease_seconds=30)
    second = slots.slot_acquire(kind="parse", owner=owner, limit=2, lease_seconds=0.3)
    assert first and second
    assert slots.slot_acquire(kind="parse", owner=owner, limit=2, lease_seconds=30) is None
    assert slots.slot_acquire(kind="parse", owner=f"{owner}-other", limit=2, lease_seconds=30)  # per owner
    time.sleep(0.4)  # the second holder "died": its lease ran out
    third = slots.slot_acquire(kind="parse", owner=owner, limit=2, lease_seconds=30)
    assert third is not None
    assert second.renew() is False  # an expired holder cannot take its slot back
    assert first.renew() is True
    first.release()
    assert slots.slots_held(kind="parse", owner=owner) == 1
    with pytest.raises(slots.SlotsBusy), slots.slot_held(kind="parse", owner=owner, limit=1, lease_seconds=30):
        pass
    third.release()
    assert slots.slot_acquire(kind="parse", owner=owner, limit=0, lease_seconds=30)  # 0: no limit
    assert slots.slots_held(kind="parse", owner=owner) == 0


@pytest.mark.slow
def test_slow_hostile_pdfs_in_one_workspace_do_not_stall_another_workspace(worker_process):
    env = {"PARSE_SLOTS_PER_WORKSPACE": 1, "PARSE_SLOT_RETRY_MS": 500}
    worker_process(**env)
    worker_process(**env)  # two workers, one thread each: the shipped default of two worker threads
    noisy_ws, noisy_user = make_tenant("Noisy")
    quiet_ws, quiet_user = make_tenant("Quiet")
    noisy_kb = kb_create(workspace=noisy_ws, user=noisy_user, name="Uploads")
    quiet_kb = kb_create(workspace=quiet_ws, user=quiet_user, name="Handbook")
    data = slow_pdf()
    hostile = [
        document_create_from_file(kb=noisy_kb, user=noisy_user, filename=f"slow-{i}.pdf", fileobj=io.BytesIO(data))
        for i in range(3)
    ]
    time.sleep(1.0)  # the noisy tenant's files are taken first
    started = time.monotonic()
    quiet = document_create_from_text(
        kb=quiet_kb, user=quiet_user, title="Lockers", content="Parcel lockers keep parcels for three days. " * 30
    )
    while time.monotonic() - started < 120:
        quiet.refresh_from_db()
        if quiet.status in (DocumentStatus.READY, DocumentStatus.FAILED):
            break
        time.sleep(0.25)
    waited = time.monotonic() - started
    assert quiet.status == DocumentStatus.READY, quiet.error
    statuses = list(Document.objects.filter(pk__in=[d.pk for d in hostile]).values_list("status", flat=True))
    print(f"quiet tenant ready after {waited:.1f}s; noisy tenant's files: {statuses}")
    # The noisy files were still being worked through: at most one of them parses at a time, so at least two
    # had not even started parsing when the quiet tenant's document was ready.
    assert statuses.count(DocumentStatus.QUEUED) >= 2, statuses
    assert waited < 30
