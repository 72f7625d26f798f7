"""Results by document (group_by=document): the best chunks of distinct documents, for chatbots that cite pages.

A document ranks where its best chunk ranks (max pooling over the fused chunk list): what a page offers a reader is
its best passage, and summing chunks would favour long pages that repeat a term. Each document appears once; its
other matching chunks (up to chunks_per_document - 1, in rank order) travel with it instead of taking places of
their own, so top_k documents are top_k distinct sources.
"""

from __future__ import annotations

from django.db import connection

GROUPINGS = ("chunk", "document")
MAX_CHUNKS_PER_DOCUMENT = 10
# Candidates per leg when grouping: one page often holds several of a query's best chunks, so top_k distinct
# documents need a deeper pool than top_k chunks do.
POOL_PER_RESULT = 3


def documents_of(kb_id, chunk_ids: list[int]) -> dict[int, str]:
    """chunk id -> document id (text), for the candidates only (the KB filter keeps this inside the KB)."""
    if not chunk_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, document_id FROM kb_chunk WHERE kb_id = %s AND id = ANY(%s)", [str(kb_id), list(chunk_ids)]
        )
        return {cid: str(doc) for cid, doc in cursor.fetchall()}


def by_document(
    ranked: list[tuple[int, float]], document_of: dict[int, str], *, top_k: int, chunks_per_document: int = 1
) -> list[tuple[int, float, list[tuple[int, float]]]]:
    """[(best chunk id, its score, [(other chunk id, score), ...])] for the top_k documents, best first.

    `ranked` is the fused chunk list (best first); a chunk whose document is unknown (deleted meanwhile) is
    skipped. Each document appears once, at the place of its best chunk."""
    groups: dict[str, tuple[int, float, list[tuple[int, float]]]] = {}
    for chunk_id, score in ranked:
        document = document_of.get(chunk_id)
        if document is None:
            continue
        group = groups.get(document)
        if group is None:
            if len(groups) < top_k:
                groups[document] = (chunk_id, score, [])
        elif len(group[2]) < chunks_per_document - 1:
            group[2].append((chunk_id, score))
    return list(groups.values())  # dicts keep insertion order: the order of each document's best chunk
