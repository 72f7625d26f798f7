"""A partial index of disabled documents by KB: every search reads them (kb.search.filters.serving), and without it
that read walked all of the KB's documents (~10 ms per search for a KB of a million pages, tests/bench/bench_search.py
at 1M rows). Built concurrently, so a large kb_document table keeps taking writes meanwhile."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("kb", "0012_keyword_text_splits_names"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="document",
            index=models.Index(condition=models.Q(("enabled", False)), fields=["kb"], name="document_disabled_by_kb"),
        ),
    ]
