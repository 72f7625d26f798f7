"""The chunk preview's cache: each source's chunks per chunking config and model, so a preview page costs a slice.

Key: the source and kb.pipeline.chunking.config_hash (the normalised config, the model and CHUNKER_VERSION, so a
new chunker misses), made from the source's current parsed elements (a re-parse misses). The chunks are the very
output of kb.pipeline.runtime.chunk_for_model, stored encrypted like the parsed elements (drafts.preview_stream)
and read a page at a time; the row (drafts.models.PreviewChunks) holds counts only. Each source keeps its last
PREVIEW_CACHE_CONFIGS configs, each for PREVIEW_CACHE_TTL_HOURS after its last use, and the files go with the
source or draft (preview_files, called by every deletion path).

A huge file source whose content is one table (a CSV of a million rows) is not chunked whole in a request: its
first pages come from the rows they need (the chunker's row groups are greedy, so every group but the last of a
prefix is a group of the whole table; provisional() keeps only those), the totals say "at least", and the worker
actor drafts.actors.fill_preview chunks the whole file into the cache. A partial result is never stored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from drafts import preview_stream
from drafts.models import DraftSource, KBDraft, PreviewChunks, SourceStatus
from drafts.selectors import source_units
from kb.pipeline import runtime
from kb.pipeline.chunking import config_hash, normalize_chunking_config
from kb.pipeline.types import ChunkData
from privexbot.metrics.definitions import PREVIEW_CACHE_LOOKUPS

logger = logging.getLogger(__name__)

FILL_STALE = timedelta(minutes=15)  # a fill not done by then is asked of a worker again (its worker died)
FIRST_ROWS = 2048  # rows read first for a provisional page; doubled until the page is covered


@dataclass
class Totals:
    count: int = 0
    tokens: int = 0
    chars: int = 0
    embedded_chars: int = 0
    truncated: int = 0
    complete: bool = True

    def add_chunk(self, chunk: ChunkData) -> None:
        self.count += 1
        self.tokens += chunk.token_count
        self.chars += chunk.char_count
        self.embedded_chars += len(chunk.embedding_text)
        self.truncated += bool(chunk.truncated)

    def add(self, other: Totals) -> None:
        for name in ("count", "tokens", "chars", "embedded_chars", "truncated"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.complete = self.complete and other.complete


@dataclass
class PreviewSlice:
    """A page of preview chunks, (unit id, unit name, document name, chunk) each, and the totals of all of them
    (lower bounds while `totals.complete` is false)."""

    chunks: list[tuple[str, str, str, ChunkData]] = field(default_factory=list)
    totals: Totals = field(default_factory=Totals)


def slice_units(units, *, offset: int = 0, limit: int | None = None) -> PreviewSlice:
    """A PreviewSlice of chunks computed whole: (unit id, unit name, document name, chunks) per unit."""
    result = PreviewSlice()
    for unit_id, unit_name, document_name, chunks in units:
        for chunk in chunks:
            result.chunks.append((unit_id, unit_name, document_name, chunk))
            result.totals.add_chunk(chunk)
    result.chunks = result.chunks[offset : offset + limit if limit is not None else None]
    return result


def draft_chunks(*, draft: KBDraft, model: str, source_id=None, offset: int = 0, limit: int | None = None):
    """Chunks offset..offset+limit of the draft's completed sources (or of one), in order, and the totals.

    A page (limit > 0) may come from a huge table's first rows (totals then incomplete); limit None or 0 asks
    for exact totals, so every source is chunked whole (once: then it is cached)."""
    lazy = bool(limit)
    stop = None if limit is None else offset + limit
    result, position = PreviewSlice(), 0
    for source in draft.sources.all():
        if source.status != SourceStatus.COMPLETED or (source_id is not None and str(source.pk) != str(source_id)):
            continue
        if result.totals.complete:
            start, end = max(0, offset - position), None if stop is None else max(0, stop - position)
        else:  # after a partial source the offsets are not known yet: the page ends there
            start = end = 0
        chunks, totals = source_slice(
            source=source, chunking_config=draft.chunking_config, model=model, start=start, stop=end, lazy=lazy
        )
        result.chunks += [(str(source.pk), source.name, document_name, chunk) for document_name, chunk in chunks]
        result.totals.add(totals)
        position += totals.count
    return result


def source_slice(*, source: DraftSource, chunking_config: dict, model: str, start: int, stop: int | None, lazy: bool):
    """([(document name, chunk)] of chunks start..stop of the source, its Totals)."""
    key = config_hash(chunking_config, model)
    row = PreviewChunks.objects.filter(source=source, config_hash=key).first()
    outcome = "miss"
    if row is not None and (row.elements_file != source.elements_file or _expired(row)):
        _delete_rows(PreviewChunks.objects.filter(pk=row.pk))
        row, outcome = None, "stale"
    if row is not None and row.complete:
        PREVIEW_CACHE_LOOKUPS.labels(outcome="hit").inc()
        PreviewChunks.objects.filter(pk=row.pk).update(used_at=timezone.now())
        stored = preview_stream.chunks_read(row.blob, start, stop) if stop is None or start < stop else []
        chunks = [(item["document_name"], ChunkData(**item["chunk"])) for item in stored]
        return chunks, _totals_of(row)
    if lazy and stop is not None and _lazy_possible(source, chunking_config):
        found = provisional(source, chunking_config, model, needed=stop)
        if found is not None and not found[1]:
            chunks, _ = found
            PREVIEW_CACHE_LOOKUPS.labels(outcome="pending" if row is not None else "partial").inc()
            _ask_fill(source, key, chunking_config, model, row)
            totals = Totals(complete=False)
            for chunk in chunks:
                totals.add_chunk(chunk)
            return [(source.name, chunk) for chunk in chunks[start:stop]], totals
        if found is not None:  # the table was read to its end and is the file's only element: exact
            units = [(source.name, found[0])]
            return _stored_slice(source, key, chunking_config, model, units, start, stop, outcome)
    units = chunk_source(source, chunking_config, model)
    return _stored_slice(source, key, chunking_config, model, units, start, stop, outcome)


def _stored_slice(source, key, chunking_config, model, units, start, stop, outcome):
    PREVIEW_CACHE_LOOKUPS.labels(outcome=outcome).inc()
    totals = store(source, key, chunking_config, model, source.elements_file, units)
    flat = [(name, chunk) for name, chunks in units for chunk in chunks]
    return flat[start:stop], totals


def chunk_source(source: DraftSource, chunking_config: dict, model: str) -> list[tuple[str, list[ChunkData]]]:
    """(document name, chunks) of each document the source becomes: what finalize makes and the worker chunks."""
    units = []
    for unit in source_units(source):
        # The document finalize makes is named after the unit: the same title, the same context lines.
        chunks = runtime.chunk_for_model(
            unit["elements"], chunking_config, model, source=_source_meta(source, unit["url"]), title=unit["name"]
        )
        units.append((unit["name"], chunks))
    return units


def _source_meta(source: DraftSource, url: str = "") -> dict:
    meta = {"source_id": str(source.pk), "source_name": source.name}
    if url:
        meta["url"] = url
    return meta


# ---------------------------------------------------------------- a huge table's first pages
def _lazy_possible(source: DraftSource, chunking_config: dict) -> bool:
    """Only the structural strategies sized in characters chunk a table's rows independently of what follows
    (semantic breaks and a token size depend on the whole text)."""
    config = normalize_chunking_config(chunking_config)
    return (
        source.type == "file_upload"
        and bool(source.elements_file)
        and source.size_bytes >= settings.PREVIEW_LAZY_MIN_BYTES
        and config["strategy"] != "semantic"
        and config.get("size_unit", "characters") == "characters"
    )


def provisional(source: DraftSource, chunking_config: dict, model: str, *, needed: int):
    """(chunks, exact) from the first rows of a file that starts with a table: `needed` chunks or more that are
    the whole file's first chunks; exact when the table was read to its end and is the only element (then they
    are all its chunks). None when the file does not start with a table or its chunks are not row groups."""
    stream = preview_stream.TableStream(source.elements_file)
    try:
        if not stream.ok:
            return None
        rows, meta = FIRST_ROWS, _source_meta(source)
        while True:
            stream.fill(rows)
            chunks = runtime.chunk_for_model([stream.element()], chunking_config, model, source=meta, title=source.name)
            if stream.done:
                return (chunks, True) if stream.single else None
            if not chunks or any("table_rows" not in chunk.metadata for chunk in chunks):
                return None  # not row groups (a header too wide to repeat): nothing is known from a prefix
            # The last row group of a prefix may gain rows; every earlier one is closed for good.
            last = chunks[-1].metadata["table_rows"]
            settled = [chunk for chunk in chunks if chunk.metadata["table_rows"] != last]
            if len(settled) >= needed:
                return settled, False
            # Enough rows for the page at this table's rows per chunk, with a margin: usually one more pass.
            rows = max(rows * 2, int(rows * (needed + 2) / max(1, len(settled)) * 1.2))
    finally:
        stream.close()


def _ask_fill(source: DraftSource, key: str, chunking_config: dict, model: str, row: PreviewChunks | None) -> None:
    """A worker chunks the whole source into the cache (drafts.actors.fill_preview): asked once per config, and
    again only when an earlier ask is FILL_STALE."""
    now = timezone.now()
    if row is None:
        try:
            with transaction.atomic():
                row = PreviewChunks.objects.create(
                    source=source, config_hash=key, chunking_config=normalize_chunking_config(chunking_config),
                    model=model, elements_file=source.elements_file, queued_at=now,
                )  # fmt: skip
        except IntegrityError:  # another request asked at the same moment (or the source is gone)
            return
        _evict(source)
    else:
        asked_lately = row.queued_at is not None and now - row.queued_at < FILL_STALE
        if asked_lately or not PreviewChunks.objects.filter(pk=row.pk, complete=False).update(queued_at=now):
            return
    from drafts.actors import fill_preview

    row_id = row.pk
    transaction.on_commit(lambda: fill_preview.send(row_id))


def fill(row_id) -> str | None:
    """Task body of drafts.actors.fill_preview: chunk the whole source into its cache row. Returns what happened."""
    row = PreviewChunks.objects.select_related("source").filter(pk=row_id, complete=False).first()
    if row is None:
        return None
    source = row.source
    if source.status != SourceStatus.COMPLETED or source.elements_file != row.elements_file:
        _delete_rows(PreviewChunks.objects.filter(pk=row.pk))
        return "stale"
    units = _worker_chunks(source, row.chunking_config, row.model)
    store(source, row.config_hash, row.chunking_config, row.model, row.elements_file, units)
    return "filled"


def warm(source_id) -> str | None:
    """After a source is parsed or crawled (drafts.actors): its chunks under its draft's current config, stored, so
    the wizard's first preview of it is a read. Returns what happened."""
    source = DraftSource.objects.select_related("draft").filter(pk=source_id, status=SourceStatus.COMPLETED).first()
    if source is None or not source.elements_file:
        return None
    draft = source.draft
    model = draft.embedding_config.get("model", settings.DEFAULT_EMBEDDING_MODEL)
    key = config_hash(draft.chunking_config, model)
    cached = PreviewChunks.objects.filter(source=source, config_hash=key, complete=True)
    if cached.filter(elements_file=source.elements_file).exists():
        return "cached"
    store(
        source,
        key,
        draft.chunking_config,
        model,
        source.elements_file,
        _worker_chunks(source, draft.chunking_config, model),
    )
    return "warmed"


def _worker_chunks(source: DraftSource, chunking_config: dict, model: str):
    """chunk_source in a worker, which should not keep a huge file's parsed elements in its memory afterwards (the
    selectors cache them for the web process's next page)."""
    from drafts import selectors

    try:
        return chunk_source(source, chunking_config, model)
    finally:
        selectors._load_elements.cache_clear()


# ---------------------------------------------------------------- rows and files
def store(source, key, chunking_config, model, elements_file, units) -> Totals:
    """Keep a source's whole chunking (encrypted) and its totals. If the source went meanwhile, or another
    request stored the same chunking first, the file just written is deleted again: no orphan of its text."""
    totals = Totals()
    lines = []
    for document_name, chunks in units:
        for chunk in chunks:
            totals.add_chunk(chunk)
            lines.append({"document_name": document_name, "chunk": chunk.to_dict()})
    name = preview_stream.chunks_save(lines)
    fields = {
        "blob": name, "complete": True, "elements_file": elements_file, "used_at": timezone.now(),
        "chunk_count": totals.count, "total_tokens": totals.tokens, "total_chars": totals.chars,
        "embedded_chars": totals.embedded_chars, "truncated_chunks": totals.truncated,
    }  # fmt: skip
    try:
        with transaction.atomic():
            kept = PreviewChunks.objects.filter(source_id=source.pk, config_hash=key, complete=False).update(**fields)
            if not kept:
                PreviewChunks.objects.create(
                    source_id=source.pk, config_hash=key, model=model,
                    chunking_config=normalize_chunking_config(chunking_config), **fields,
                )  # fmt: skip
    except IntegrityError:
        _delete_files([name])
        return totals
    _evict(source)
    return totals


def _totals_of(row: PreviewChunks) -> Totals:
    return Totals(
        count=row.chunk_count, tokens=row.total_tokens, chars=row.total_chars,
        embedded_chars=row.embedded_chars, truncated=row.truncated_chunks, complete=True,
    )  # fmt: skip


def _expired(row: PreviewChunks) -> bool:
    return row.used_at < timezone.now() - timedelta(hours=settings.PREVIEW_CACHE_TTL_HOURS)


def _evict(source: DraftSource) -> None:
    """Keep the source's PREVIEW_CACHE_CONFIGS most recently used chunkings."""
    keep = PreviewChunks.objects.filter(source_id=source.pk).order_by("-used_at", "-pk")
    keep = keep.values("pk")[: settings.PREVIEW_CACHE_CONFIGS]
    _delete_rows(PreviewChunks.objects.filter(source_id=source.pk).exclude(pk__in=keep))


def _delete_rows(rows) -> int:
    with transaction.atomic():
        files = list(rows.select_for_update().exclude(blob="").values_list("blob", flat=True))
        count, _ = rows.delete()
        transaction.on_commit(lambda: _delete_files(files))
    return count


def _delete_files(files: list[str]) -> None:
    from privexbot.storage import get_storage

    storage = get_storage()
    for name in files:
        storage.delete(name)


def preview_files(*, sources) -> list[str]:
    """The cached chunk files of `sources` (a DraftSource queryset), for a deletion to remove with them. Call it in
    the deleting transaction: the sources and their rows are locked, so a worker or request storing chunks now
    either is seen here or finds its source gone and deletes its own file."""
    ids = list(DraftSource.objects.select_for_update().filter(pk__in=sources.values("pk")).values_list("pk", flat=True))
    rows = PreviewChunks.objects.select_for_update().filter(source_id__in=ids).exclude(blob="")
    return list(rows.values_list("blob", flat=True))


def preview_cache_expire() -> int:
    """Periodic (settings.PERIODIC_JOBS): delete the chunkings not used for PREVIEW_CACHE_TTL_HOURS."""
    cutoff = timezone.now() - timedelta(hours=settings.PREVIEW_CACHE_TTL_HOURS)
    return _delete_rows(PreviewChunks.objects.filter(used_at__lt=cutoff))
