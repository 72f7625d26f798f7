"""The serving scope (`serving`) and metadata filters (`build`) -> SQL conditions on kb_chunk `c` (plus their
parameters), shared by both legs.

    document_ids         chunks of these documents
    source_types         documents of these source types (file_upload, website_crawl, text_input)
    pages                chunks covering any of these pages (metadata "pages", else "page")
    metadata             chunk metadata containing these key/values (jsonb @>), e.g. {"element_types": ["Table"]}
    document_metadata    document metadata containing these key/values, e.g. {"team": "billing"}
A single value is accepted where a list is expected.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.db import connection

from kb.models import SourceType
from kb.search.types import SearchError

KEYS = ("document_ids", "source_types", "pages", "metadata", "document_metadata")


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, list | tuple | set | frozenset) else [value]


def _uuids(values: list) -> list[str]:
    try:
        return [str(uuid.UUID(str(v))) for v in values]
    except ValueError as exc:
        raise SearchError(f"document_ids must be UUIDs: {exc}") from None


def _ints(values: list, name: str) -> list[int]:
    try:
        return [int(v) for v in values]
    except (TypeError, ValueError):
        raise SearchError(f"{name} must be integers") from None


def _mapping(value: Any, name: str) -> str:
    if not isinstance(value, dict) or not value:
        raise SearchError(f"{name} must be a non-empty object of key/values")
    return json.dumps(value)


def serving(kb) -> tuple[str, list[Any]]:
    """The condition every search read starts from, in both legs: the chunks of the KB's serving index
    generation (a rebuild, kb.rebuild, writes the next one beside it and the KB switches by changing this
    number), without those of disabled documents (kb.services.document_set_enabled: they keep their chunks, so
    enabling one again brings it back at once, nothing re-embedded). The disabled ids are read first and given
    as a constant: with none disabled the SQL, and the planner's HNSW choice, stay as they were (a NOT IN
    subquery made PostgreSQL leave the cosine index)."""
    where, params = " AND c.generation = %s", [int(kb.generation)]
    if disabled := _disabled_documents(kb.pk):
        where += " AND NOT (c.document_id = ANY(%s::uuid[]))"
        params.append(disabled)
    return where, params


def _disabled_documents(kb_id) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM kb_document WHERE kb_id = %s AND NOT enabled", [str(kb_id)])
        return [str(row[0]) for row in cursor.fetchall()]


def build(filters: dict[str, Any] | None) -> tuple[str, list[Any]]:
    """(" AND ..." or "", params) for the WHERE clause of a query over kb_chunk aliased `c`."""
    if not filters:
        return "", []
    unknown = set(filters) - set(KEYS)
    if unknown:
        raise SearchError(f"unknown filters {sorted(unknown)}; known: {list(KEYS)}")
    parts: list[str] = []
    params: list[Any] = []
    if (value := filters.get("document_ids")) is not None:
        parts.append("c.document_id = ANY(%s::uuid[])")
        params.append(_uuids(_as_list(value)))
    if (value := filters.get("source_types")) is not None:
        types = [str(v) for v in _as_list(value)]
        if bad := set(types) - set(SourceType.values):
            raise SearchError(f"unknown source types {sorted(bad)}; known: {SourceType.values}")
        parts.append("c.document_id IN (SELECT d.id FROM kb_document d WHERE d.source_type = ANY(%s))")
        params.append(types)
    if (value := filters.get("pages")) is not None:
        parts.append(
            "(EXISTS (SELECT 1 FROM jsonb_array_elements_text(coalesce(c.metadata->'pages', '[]')) p"
            " WHERE p.value::int = ANY(%s)) OR (c.metadata->>'page')::int = ANY(%s))"
        )
        pages = _ints(_as_list(value), "pages")
        params += [pages, pages]
    if (value := filters.get("metadata")) is not None:
        parts.append("c.metadata @> %s::jsonb")
        params.append(_mapping(value, "metadata"))
    if (value := filters.get("document_metadata")) is not None:
        parts.append("c.document_id IN (SELECT d.id FROM kb_document d WHERE d.metadata @> %s::jsonb)")
        params.append(_mapping(value, "document_metadata"))
    return "".join(f" AND {part}" for part in parts), params
