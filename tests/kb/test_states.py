"""The document state machine: every allowed transition happens, every other one is refused, and nothing
outside the state modules writes a status."""

import ast
from pathlib import Path

import pytest

from kb import states
from kb.models import Document, DocumentStatus
from kb.services import document_create_from_text, document_reprocess, document_retry
from privexbot.errors import Conflict
from privexbot.statemachine import IllegalTransition
from tests.state_walk import all_pairs, assert_move_follows_the_table

ALL = list(DocumentStatus.values)
PAIRS = all_pairs(ALL)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def doc(kb, owner, no_enqueue):
    return document_create_from_text(kb=kb, user=owner, title="T", content="Refunds within 14 days. " * 10)


def test_the_table_names_every_status_and_every_target_is_reachable():
    assert set(states.TRANSITIONS) == set(ALL)
    reachable = {t for targets in states.TRANSITIONS.values() for t in targets}
    assert reachable == set(ALL)  # every status can be entered


@pytest.mark.parametrize(("origin", "target"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_each_transition_happens_exactly_when_the_table_allows_it(doc, origin, target):
    assert_move_follows_the_table(states.DOCUMENTS, doc.pk, origin, target)


def test_a_move_from_a_state_the_table_forbids_is_a_programming_error(doc):
    with pytest.raises(IllegalTransition):
        states.move(doc.pk, DocumentStatus.READY, only_from=[DocumentStatus.QUEUED])


def test_guard_on_the_run_token_refuses_a_stale_worker(doc):
    Document.objects.filter(pk=doc.pk).update(status=DocumentStatus.PARSING, attempts=2)
    from django.db.models import Q

    assert not states.move(doc.pk, DocumentStatus.CHUNKING, when=Q(attempts=1))  # the worker of attempt 1 lost it
    assert states.move(doc.pk, DocumentStatus.CHUNKING, when=Q(attempts=2))


def test_reprocess_of_a_document_a_live_worker_is_on_is_refused(doc):
    from django.utils import timezone

    Document.objects.filter(pk=doc.pk).update(status=DocumentStatus.EMBEDDING, progress=40, heartbeat_at=timezone.now())
    with pytest.raises(Conflict) as info:
        document_reprocess(document=doc)
    assert info.value.code == "in_progress" and "embedding, 40 %" in info.value.message
    assert Document.objects.get(pk=doc.pk).status == DocumentStatus.EMBEDDING  # untouched


def test_reprocess_of_a_silent_worker_s_document_requeues_it(doc):
    from datetime import timedelta

    from django.utils import timezone

    old = timezone.now() - timedelta(hours=1)
    Document.objects.filter(pk=doc.pk).update(status=DocumentStatus.EMBEDDING, heartbeat_at=old, attempts=2)
    assert document_reprocess(document=doc, reset_attempts=False).status == DocumentStatus.QUEUED
    assert Document.objects.get(pk=doc.pk).attempts == 2


@pytest.mark.parametrize("status", ALL)
def test_retry_is_only_for_failed_or_quarantined_documents(doc, status):
    Document.objects.filter(pk=doc.pk).update(status=status, attempts=3)
    if status in ("failed", "quarantined"):
        assert document_retry(document=doc).status == "queued"
        assert Document.objects.get(pk=doc.pk).attempts == 0
    else:
        with pytest.raises(Conflict):
            document_retry(document=doc)
        assert Document.objects.get(pk=doc.pk).status == status


STATE_MODULES = {"kb/states.py", "drafts/states.py", "privexbot/statemachine.py"}


def _status_writes(path: Path) -> list[int]:
    """Lines that write a status column: .update(status=...), .status = ..., update_fields with "status"."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        is_update = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "update"
        if is_update and any(k.arg == "status" for k in node.keywords):
            lines.append(node.lineno)
        if isinstance(node, ast.Call) and any(
            k.arg == "update_fields" and "status" in ast.unparse(k.value) for k in node.keywords
        ):
            lines.append(node.lineno)
        if isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Attribute) and t.attr == "status" for t in targets):
                lines.append(node.lineno)
    return lines


def test_nothing_outside_the_state_modules_writes_a_status():
    offenders = []
    for package in ("privexbot", "tenants", "kb", "drafts", "pages"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if "/migrations/" in rel or rel in STATE_MODULES:
                continue
            offenders += [f"{rel}:{line}" for line in _status_writes(path)]
    assert offenders == []


def test_the_status_write_finder_finds_writes(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "Document.objects.filter(pk=1).update(status='ready')\n"
        "doc.status = 'ready'\n"
        "doc.save(update_fields=['status'])\n"
        "Document.objects.filter(pk=1).update(progress=3)\n"
    )
    assert sorted(_status_writes(sample)) == [1, 2, 3]
