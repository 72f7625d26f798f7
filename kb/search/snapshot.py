"""One search, one snapshot. A search is several statements — the KB's serving state, the disabled documents,
each leg, the hydration of the winners — and under PostgreSQL's default READ COMMITTED each would see the
database as of its own start. A commit landing between them (a new file version made ready and the old one
deleted, a rebuild switching generation, documents disabled) then gives a mix: the keyword leg ranks the old
version's chunks and hydration finds them gone, so the caller gets nothing at all. Running the whole search in
one REPEATABLE READ, READ ONLY transaction makes it see exactly one state: before the commit or after it."""

from __future__ import annotations

import copy
from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models.expressions import RawSQL

from kb.models import KnowledgeBase

# What a search reads from the KB row (kb.search.filters.serving, vector.metric_for, the query's model, the
# text-search language): re-read inside the snapshot, since the caller's object was loaded before it.
SERVING_FIELDS = ("generation", "embedding_config", "vector_store_config", "language")
# Read with them, in the same statement: the number kb.search.cache keys results by, as of this snapshot (its own
# table, kept by the triggers of kb migration 0011; 0 for a KB without a row).
VERSION_SQL = "coalesce((SELECT v.version FROM kb_content_version v WHERE v.kb_id = kb_knowledgebase.id), 0)"


def _version_expression() -> RawSQL:
    return RawSQL(VERSION_SQL, [])  # noqa: S611 - a constant statement, no input in it


def content_version(kb_id) -> int:
    """The KB's content version as this connection sees it now."""
    row = KnowledgeBase.objects.filter(pk=kb_id).values_list(_version_expression(), flat=True).first()
    return int(row or 0)


@contextmanager
def one_snapshot():
    """Every statement inside reads the same snapshot. Inside a caller's transaction (a test's, a service that
    searches while it writes) the isolation level cannot change any more: that transaction's rules apply."""
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def as_of_snapshot(kb: KnowledgeBase) -> KnowledgeBase:
    """A copy of `kb` (from the access funnel) with its serving fields as the snapshot sees them; `kb` itself is
    left as the caller loaded it. A KB deleted meanwhile keeps its fields: its chunks are gone, nothing is found."""
    row = KnowledgeBase.objects.filter(pk=kb.pk).values(*SERVING_FIELDS, content_version=_version_expression()).first()
    if row is None:
        return kb
    fresh = copy.copy(kb)
    for name, value in row.items():
        setattr(fresh, name, value)
    return fresh
