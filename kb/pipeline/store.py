"""The database side of the pipeline: the embedding cache and the atomic replacement of a document's chunks."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from psycopg import sql as psycopg_sql

from kb.pipeline.types import ChunkData, PipelineError
from privexbot.metrics.definitions import EMBEDDING_SECONDS, EMBEDDINGS

VECTOR_COLUMNS = {384: "embedding", 768: "embedding_768"}


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _register_vector() -> None:
    from pgvector.psycopg import register_vector

    connection.ensure_connection()
    raw = connection.connection
    if not getattr(raw, "_pxb_vector", False):
        register_vector(raw)
        raw._pxb_vector = True


def _as_array(value) -> np.ndarray:
    # An untyped vector column comes back as pgvector's Vector object, a typed one as an ndarray.
    return np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value, dtype=np.float32)


@dataclass
class EmbedStats:
    total: int = 0
    unique: int = 0
    cache_hits: int = 0
    computed: int = 0


def cached_vectors(organization_id, model: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
    """Cached vectors of this organization only: another tenant's entries are never read (kb.models.EmbeddingCache)."""
    if not hashes:
        return {}
    _register_vector()
    found: dict[str, np.ndarray] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(hashes), 5000):
            cursor.execute(
                "SELECT text_hash, embedding FROM kb_embeddingcache"
                " WHERE organization_id = %s AND model = %s AND text_hash = ANY(%s)",
                [organization_id, model, list(hashes[start : start + 5000])],
            )
            found.update({h: _as_array(v) for h, v in cursor.fetchall()})
    return found


def cache_store(
    organization_id, model: str, items: Sequence[tuple[str, np.ndarray]], *, owner: Callable[[], bool] | None = None
) -> bool:
    """Cache vectors in the organization's cache. `owner`, when given, runs in the same transaction first (it
    locks the document row, see runner.still_owned): False means the document was deleted or taken over, and
    nothing is written — a deletion that already ran must not find new copies of its text's vectors."""
    if not items:
        return True
    _register_vector()
    with transaction.atomic(), connection.cursor() as cursor:
        if owner is not None and not owner():
            return False
        cursor.executemany(
            "INSERT INTO kb_embeddingcache (organization_id, model, text_hash, embedding, created_at)"
            " VALUES (%s, %s, %s, %s, now()) ON CONFLICT (organization_id, model, text_hash) DO NOTHING",
            [(organization_id, model, h, v) for h, v in items],
        )
    return True


class NotOwned(Exception):
    """cache_store's owner check failed: the document is gone or another run has it."""


def embed_with_cache(
    texts: Sequence[str],
    *,
    model: str,
    encode: Callable[[list[str]], np.ndarray],
    batch_size: int,
    organization_id=None,
    owner: Callable[[], bool] | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> tuple[np.ndarray, EmbedStats]:
    """Vectors for `texts` in order. Each distinct text is looked up in the organization's cache first; only the
    misses are encoded, in batches, and each batch is cached as soon as it is done so a crash loses at most one
    batch of work. organization_id None is the cache of tools outside any organization (NIL_ORGANIZATION).
    Raises NotOwned when `owner` says the document is no longer this run's (nothing more is cached)."""
    from kb.models import NIL_ORGANIZATION

    organization_id = organization_id or NIL_ORGANIZATION
    hashes = [text_hash(t) for t in texts]
    unique = list(dict.fromkeys(hashes))
    by_hash = cached_vectors(organization_id, model, unique)
    stats = EmbedStats(total=len(texts), unique=len(unique), cache_hits=len(by_hash))
    EMBEDDINGS.labels(source="cache").inc(stats.cache_hits)
    first_text = dict(zip(hashes, texts, strict=True))
    # Similar lengths side by side: each encoded batch is padded to its longest text, so sorting by
    # length first wastes far less compute than batching in document order.
    missing = sorted((h for h in unique if h not in by_hash), key=lambda h: len(first_text[h]))
    for start in range(0, len(missing), batch_size):
        batch = missing[start : start + batch_size]
        started = time.perf_counter()
        vectors = np.asarray(encode([first_text[h] for h in batch]), dtype=np.float32)
        EMBEDDING_SECONDS.observe(time.perf_counter() - started)
        EMBEDDINGS.labels(source="computed").inc(len(batch))
        if not cache_store(organization_id, model, list(zip(batch, vectors, strict=True)), owner=owner):
            raise NotOwned
        by_hash.update(zip(batch, vectors, strict=True))
        stats.computed += len(batch)
        if on_progress:
            on_progress(min(1.0, (start + len(batch)) / len(missing)))
    if not texts:
        return np.zeros((0, 0), dtype=np.float32), stats
    return np.stack([by_hash[h] for h in hashes]), stats


def _serving_generation(kb_id) -> int:
    """The KB's serving index generation, read FOR KEY SHARE (the lock the chunks' foreign key takes anyway, so
    writers of one KB never wait for each other): a rebuild's switch (kb.rebuild_worker) locks the KB row FOR
    UPDATE, so it waits for this transaction, and a writer that commits first is seen by the switch."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT generation FROM kb_knowledgebase WHERE id = %s FOR KEY SHARE", [str(kb_id)])
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def replace_chunks(
    *, document_id, kb_id, language: str, version: int, chunks: list[ChunkData], vectors,
    generation: int | None = None, made_for: int | None = None,
) -> None:  # fmt: skip
    """Delete the document's chunks of one index generation and insert the new ones. Must run inside the
    caller's transaction (together with the status change), so readers see either the old chunks or the new ones.
    Each row's search_vector is kb_search_vector(language, context, content) (kb migration 0012: the context line at
    weight B, the content at D, dotted names split into their parts); its content_hash is the sha256
    of its embedding_text, the embedding cache's key (so deletion finds the cached vectors of its text).
    generation: the generation written (a rebuild's new one, kb.rebuild_worker); None = the KB's serving one.
    made_for: the serving generation whose settings made these chunks (the worker passes the one it read when it
    started): if the KB has switched since, they were made with the old settings and a transient PipelineError
    sends the document round again with the new ones."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("replace_chunks must run inside a transaction")
    if generation is None or made_for is not None:
        serving = _serving_generation(kb_id)
        if made_for is not None and made_for != serving:
            raise PipelineError(
                "settings_changed", "The knowledge base switched to new settings meanwhile; processing again.",
                permanent=False,
            )  # fmt: skip
        generation = serving if generation is None else generation
    dims = int(vectors.shape[1]) if len(chunks) else 384
    column = VECTOR_COLUMNS.get(dims)
    if column is None:
        raise PipelineError(
            "unsupported_dimensions",
            f"Embeddings with {dims} dimensions are not supported (supported: {sorted(VECTOR_COLUMNS)}).",
        )
    _register_vector()
    sql = (
        psycopg_sql.SQL(
            "INSERT INTO kb_chunk (document_id, kb_id, generation, version, index, context, content, content_hash,"
            " token_count, word_count, char_count, truncated, metadata, {column}, search_vector, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
            " kb_search_vector(%s::regconfig, %s, %s), now())"
        )
        .format(column=psycopg_sql.Identifier(column))
        .as_string(connection.connection)
    )
    from psycopg.types.json import Jsonb

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM kb_chunk WHERE document_id = %s AND generation = %s", [document_id, generation])
        batch = settings.VECTOR_UPSERT_BATCH_SIZE
        for start in range(0, len(chunks), batch):
            rows = [
                (
                    document_id, kb_id, generation, version, c.index, c.context, c.content, text_hash(c.embedding_text),
                    c.token_count, c.word_count, c.char_count, c.truncated, Jsonb(c.metadata), vectors[start + i],
                    language, c.context, c.content,
                )
                for i, c in enumerate(chunks[start : start + batch])
            ]  # fmt: skip
            cursor.executemany(sql, rows)
