"""drafts 0002 moves a source's attempts from metadata into its own column without losing them."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("drafts", "0001_initial")]
AFTER = [("drafts", "0002_source_attempts_heartbeat")]


@pytest.mark.django_db(transaction=True)
def test_attempts_move_from_metadata_to_the_column_and_back(workspace, owner):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    draft = old.get_model("drafts", "KBDraft").objects.create(workspace_id=workspace.pk, name="D")
    Source = old.get_model("drafts", "DraftSource")  # noqa: N806  (a historical model)
    make = Source.objects.create
    rows = {
        "retried": make(draft=draft, type="file_upload", name="a", status="pending", metadata={"attempts": 2}),
        "running": make(draft=draft, type="file_upload", name="b", status="processing", metadata={"k": 1}),
        "done": make(draft=draft, type="website_crawl", name="c", status="completed", metadata={"attempts": 3}),
        "text": make(draft=draft, type="text_input", name="d", status="completed", metadata={"word_count": 5}),
    }
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        new = executor.loader.project_state(AFTER).apps.get_model("drafts", "DraftSource")
        got = {k: new.objects.get(pk=v.pk) for k, v in rows.items()}
        # a pending source's next run is counted when it is claimed; a first run had no key and counted as 1
        assert {k: s.attempts for k, s in got.items()} == {"retried": 1, "running": 1, "done": 3, "text": 0}
        assert all("attempts" not in s.metadata for s in got.values())
        assert got["running"].metadata == {"k": 1} and got["running"].heartbeat_at is not None
        assert got["done"].heartbeat_at is None

        executor = MigrationExecutor(connection)
        executor.migrate(BEFORE)
        back = executor.loader.project_state(BEFORE).apps.get_model("drafts", "DraftSource")
        assert back.objects.get(pk=rows["retried"].pk).metadata["attempts"] == 2
        assert back.objects.get(pk=rows["done"].pk).metadata["attempts"] == 3
    finally:
        MigrationExecutor(connection).migrate(executor.loader.graph.leaf_nodes())
