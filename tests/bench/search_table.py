"""Benchmark tables for search: the real Django-docs KB, and a large table grown from it.

Real rows: every page of shared/corpus/site except the FAQ and the glossary (they hold the judged questions),
parsed, chunked and embedded by the pipeline's own functions, one Document per page.

Derived rows (to reach 100k / 1M): copy c of real chunk r keeps r's text, tsvector and metadata, and gets
a vector between r's and another real chunk's: normalise(a * v_r + (1 - a) * v_s + noise), with s a random
real chunk, a uniform in [0.55, 1) and Gaussian noise of norm ~0.1 (per-component sigma 0.1/sqrt(384)).
Every derived vector stays closest to its own chunk's meaning, but the copies of one chunk spread along
segments towards the rest of the corpus instead of piling up around one point: at 1M rows each real chunk
has ~166 copies, and pure perturbations (noise only) made 166-member balls of near-ties where recall@10
measures which of the near-identical copies an index returns (0.36 at 1M) rather than how well it searches.
They fill a large KB ("bench-main", 99% of the table minus the real KB) and a KB holding 1% of the table
("bench-1pct"), each copy under its own Document (page URL + "#copy-c").
"""

from __future__ import annotations

import time

import numpy as np

from tests.bench import search_data

REAL_KB = "django-docs"
MAIN_KB, SMALL_KB = "bench-main", "bench-1pct"
EXCLUDED = ("faq/", "glossary.html")
SIGMA = 0.1  # norm of the noise added to each derived vector
MIX = (0.55, 1.0)  # share of the chunk's own vector in a derived one
DERIVATION = 2  # bumped when the derivation changes: a table built another way is rebuilt
REBUILT_INDEXES = ("chunk_hnsw_cosine_384", "chunk_search_gin")


def real_kb(workspace, user):
    """The Django-docs KB of real chunks, built once (embeddings come from the bench DB's cache)."""
    from django.db import transaction

    from kb.models import Document, KnowledgeBase
    from kb.pipeline.store import replace_chunks

    kb = KnowledgeBase.objects.filter(workspace=workspace, name=REAL_KB).first()
    if kb is not None and kb.chunks.exists():
        return kb
    kb = kb or KnowledgeBase.objects.create(workspace=workspace, name=REAL_KB, created_by=user)
    pages = [p for p in search_data.parse_and_chunk() if not p.path.startswith(EXCLUDED)]
    vectors = search_data.embed_pages(pages)
    offset = 0
    for page in pages:
        with transaction.atomic():
            doc = Document.objects.create(
                kb=kb, source_type="website_crawl", name=page.title, url=page.url, file_type="html", status="ready",
                chunk_count=len(page.chunks),
            )  # fmt: skip
            replace_chunks(
                document_id=doc.pk, kb_id=kb.pk, language=kb.language, version=1, chunks=page.chunks,
                vectors=vectors[offset : offset + len(page.chunks)],
            )  # fmt: skip
        offset += len(page.chunks)
    return kb


def _real_rows(kb):
    from django.db import connection
    from pgvector.psycopg import register_vector

    connection.ensure_connection()
    register_vector(connection.connection)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, document_id, embedding FROM kb_chunk WHERE kb_id = %s ORDER BY id", [str(kb.pk)])
        rows = cursor.fetchall()
    vectors = [np.asarray(getattr(r[2], "to_numpy", lambda v=r[2]: v)(), dtype=np.float32) for r in rows]
    return [r[0] for r in rows], [r[1] for r in rows], np.stack(vectors)


def table_rows() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM kb_chunk")
        return cursor.fetchone()[0]


def grow(*, workspace, user, real, total: int, seed: int = 7) -> dict:
    """Make the table hold `total` chunks: real KB + main KB + 1% KB. Returns build timings and sizes."""
    from django.db import connection

    from kb.models import Chunk, Document, KnowledgeBase

    small_rows = total // 100
    existing = {kb.name: kb for kb in KnowledgeBase.objects.filter(workspace=workspace, name__in=[MAIN_KB, SMALL_KB])}
    if (
        table_rows() == total
        and len(existing) == 2
        and existing[SMALL_KB].chunks.count() == small_rows
        and existing[MAIN_KB].description == f"derivation {DERIVATION}"
    ):
        return {"rebuilt": False}
    report: dict = {"rebuilt": True}
    with connection.cursor() as cursor:
        for name in REBUILT_INDEXES:  # bulk load first, build once: how an operator loads a big table
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
    started = time.perf_counter()
    KnowledgeBase.objects.filter(workspace=workspace, name__in=[MAIN_KB, SMALL_KB]).delete()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM kb_chunk")  # the load reuses the space of the rows just deleted
    report["delete_s"] = time.perf_counter() - started

    ids, doc_ids, vectors = _real_rows(real)
    main_rows = total - small_rows - len(ids)
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    for name, rows in ((MAIN_KB, main_rows), (SMALL_KB, small_rows)):
        kb = KnowledgeBase.objects.create(
            workspace=workspace, name=name, created_by=user, description=f"derivation {DERIVATION}"
        )
        _load_copies(kb, ids, doc_ids, vectors, rows, rng, Document)
    report["load_s"] = time.perf_counter() - started

    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '4GB'")
        cursor.execute("SET max_parallel_maintenance_workers = 1")  # 2 cores: leader + 1 worker
    indexes = {index.name: index for index in Chunk._meta.indexes}
    for name in REBUILT_INDEXES:  # the model's own definitions, as migration 0003 creates them
        started = time.perf_counter()
        with connection.schema_editor() as editor:
            editor.add_index(Chunk, indexes[name])
        report[f"build_{name}_s"] = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE kb_chunk")
    return report


def _load_copies(kb, ids, doc_ids, vectors, rows: int, rng, Document) -> None:
    from django.db import connection

    copies = -(-rows // len(ids))
    originals = Document.objects.filter(pk__in=set(doc_ids)).values("pk", "name", "url")
    docs: dict[tuple[int, object], object] = {}
    batch = []
    for copy in range(copies):
        for original in originals:
            doc = Document(
                kb=kb, source_type="website_crawl", name=f"{original['name']} (copy {copy})"[:500],
                url=f"{original['url']}#copy-{copy}", status="ready",
            )  # fmt: skip
            docs[(copy, original["pk"])] = doc
            batch.append(doc)
    Document.objects.bulk_create(batch, batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS bench_vec (origin bigint, doc_id uuid, embedding vector(384))")
        cursor.execute("TRUNCATE bench_vec")
        written = 0
        with cursor.cursor.copy("COPY bench_vec (origin, doc_id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "uuid", "vector"])
            for copy_no in range(copies):
                take = min(len(ids), rows - written)
                noise = rng.normal(scale=SIGMA / np.sqrt(vectors.shape[1]), size=(take, vectors.shape[1]))
                share = rng.uniform(*MIX, size=(take, 1))
                partners = vectors[rng.integers(0, len(ids), size=take)]
                moved = share * vectors[:take] + (1.0 - share) * partners + noise
                moved = (moved / np.linalg.norm(moved, axis=1, keepdims=True)).astype(np.float32)
                for i in range(take):
                    copy.write_row((ids[i], docs[(copy_no, doc_ids[i])].pk, moved[i]))
                written += take
        cursor.execute(
            "INSERT INTO kb_chunk (document_id, kb_id, version, index, content, content_hash, token_count,"
            " word_count, char_count, truncated, metadata, embedding, search_vector, created_at)"
            " SELECT s.doc_id, %s, 1, r.index, r.content, r.content_hash, r.token_count, r.word_count, r.char_count,"
            " r.truncated, r.metadata, s.embedding, r.search_vector, now() FROM bench_vec s JOIN kb_chunk r"
            " ON r.id = s.origin",
            [str(kb.pk)],
        )


def sizes() -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c WHERE c.relname = ANY(%s)",
            [["kb_chunk", *REBUILT_INDEXES]],
        )
        out = dict(cursor.fetchall())
        cursor.execute("SELECT pg_total_relation_size('kb_chunk')")
        out["kb_chunk total"] = cursor.fetchone()[0]
    return out
