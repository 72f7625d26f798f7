"""The draft-source state machine: every allowed transition happens, every other one is refused."""

import pytest

from drafts import states
from drafts.models import DraftSource, SourceStatus
from tests.state_walk import all_pairs, assert_move_follows_the_table

ALL = list(SourceStatus.values)
PAIRS = all_pairs(ALL)


@pytest.fixture
def source(draft):
    return DraftSource.objects.create(draft=draft, type="file_upload", name="a.pdf")


def test_the_table_names_every_status():
    assert set(states.TRANSITIONS) == set(ALL)


@pytest.mark.parametrize(("origin", "target"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_each_transition_happens_exactly_when_the_table_allows_it(source, origin, target):
    assert_move_follows_the_table(states.SOURCES, source.pk, origin, target)


def test_a_claimed_source_counts_its_attempt_and_a_second_claim_does_nothing(source):
    from drafts.processing import _claim

    claimed = _claim(source.pk)
    assert (claimed.status, claimed.attempts) == ("processing", 1) and claimed.heartbeat_at is not None
    assert _claim(source.pk) is None


def test_a_run_that_lost_its_source_to_the_sweeper_writes_nothing(source):
    from drafts.processing import _claim, _Run

    run = _Run(_claim(source.pk))
    DraftSource.objects.filter(pk=source.pk).update(attempts=2)  # the sweeper requeued it, another worker took it
    assert run.finish(SourceStatus.ERROR, error="late") is False
    assert DraftSource.objects.get(pk=source.pk).status == "processing"
