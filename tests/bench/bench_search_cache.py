"""The search result cache (kb.search.cache) and the content-version triggers it relies on (migration 0011).

1. Search through `kb.search.chunk_search`, per mode, the same questions asked again: p50/p95 with the result
   cache on (every measured call a hit) against off (the query vector still cached in Redis, as in production:
   only the ranking is recomputed), interleaved rounds in one run.
2. What the triggers cost a write: `replace_chunks` of ~500 chunks (one document's store step) with the
   content-version trigger on against the same write with it disabled, interleaved.

Run: nice -n 10 .venv/bin/python tests/bench/bench_search_cache.py [--rounds 5] [--queries 30] [--chunks 500]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ["SEARCH_RESULT_CACHE_SECONDS"] = "600"  # before settings are read; toggled per round below
from tests.bench._setup import CORPUS, bench_user_and_workspace, django_setup, machine  # noqa: E402

DB_NAME = "privexbot_bench_search_cache"
KB_NAME = "result cache bench"


def build_kb(user, workspace):
    from kb.models import KnowledgeBase
    from kb.pipeline.runner import process
    from kb.services import document_create_from_text

    kb = KnowledgeBase.objects.filter(workspace=workspace, name=KB_NAME).first()
    if kb is not None:
        return kb
    import kb.services as services

    services._enqueue = lambda ids: None  # processed right here
    kb = KnowledgeBase.objects.create(workspace=workspace, name=KB_NAME, created_by=user)
    for path in sorted((CORPUS / "md").glob("*.md"), key=lambda p: p.stat().st_size)[:8]:  # the small ones
        doc = document_create_from_text(kb=kb, user=user, title=path.name, content=path.read_text(errors="replace"))
        process(doc.pk)
    return kb


def grow_kb(kb, rows: int) -> None:
    """Up to `rows` chunks: documents of derived rows (a real chunk's text and metadata, its vector moved by noise
    and renormalised, as bench_search grows its tables), so no embedding is computed. Stored with replace_chunks."""
    import numpy as np
    from django.db import transaction

    from kb.models import Chunk, Document
    from kb.pipeline.store import replace_chunks
    from kb.pipeline.types import ChunkData

    real = list(Chunk.objects.filter(kb=kb, document__name__endswith=".md").order_by("pk"))
    have = Chunk.objects.filter(kb=kb).count()
    rng = np.random.default_rng(have)
    while have < rows and real:
        batch = real[: min(len(real), rows - have)]
        vecs = np.asarray([np.asarray(c.embedding, dtype=np.float32) for c in batch])
        vecs = vecs + rng.normal(scale=0.5 / np.sqrt(vecs.shape[1]), size=vecs.shape).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        chunks = [
            ChunkData(index=i, content=c.content, token_count=c.token_count, word_count=c.word_count,
                      char_count=c.char_count, metadata=c.metadata or {}, context=getattr(c, "context", ""))
            for i, c in enumerate(batch)
        ]  # fmt: skip
        document = Document.objects.create(kb=kb, name=f"derived {have}", source_type="text_input", status="ready")
        with transaction.atomic():
            replace_chunks(
                document_id=document.pk, kb_id=kb.pk, language=kb.language, version=1, chunks=chunks, vectors=vecs
            )
        have += len(chunks)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def bench_search(kb, queries: list[str], rounds: int) -> None:
    from django.conf import settings

    from kb.search import chunk_search

    for mode in ("vector", "keyword", "hybrid"):
        for q in queries:  # warm: model, query vectors, term statistics, and the result cache's entries
            chunk_search(kb=kb, query=q, mode=mode, top_k=10)
    print(f"\nsearch, {len(queries)} questions asked again, {rounds} interleaved rounds (ms per search)")
    print(f"{'mode':8} {'uncached p50':>13} {'p95':>7} {'cached p50':>11} {'p95':>7} {'p50 ratio':>10}")
    for mode in ("vector", "keyword", "hybrid"):
        samples = {0: [], 600: []}
        for _ in range(rounds):
            for ttl in (0, 600):
                settings.SEARCH_RESULT_CACHE_SECONDS = ttl
                for q in queries:
                    started = time.perf_counter()
                    chunk_search(kb=kb, query=q, mode=mode, top_k=10)
                    samples[ttl].append((time.perf_counter() - started) * 1000)
        (u50, u95), (c50, c95) = percentiles(samples[0]), percentiles(samples[600])
        print(f"{mode:8} {u50:13.2f} {u95:7.2f} {c50:11.2f} {c95:7.2f} {c50 / u50:10.2f}")
    settings.SEARCH_RESULT_CACHE_SECONDS = 600


def bench_writes(kb, user, workspace, count: int, rounds: int) -> None:
    import numpy as np
    from django.db import connection, transaction

    from kb.models import Chunk, Document, KnowledgeBase
    from kb.pipeline.store import replace_chunks
    from kb.pipeline.types import ChunkData

    source = list(Chunk.objects.filter(kb=kb).order_by("pk").values_list("content", "embedding")[:count])
    while len(source) < count:
        source += source[: count - len(source)]
    chunks = [
        ChunkData(index=i, content=f"{text} ({i})", token_count=200, word_count=150, char_count=len(text))
        for i, (text, _) in enumerate(source)
    ]
    vectors = np.asarray([np.asarray(v, dtype=np.float32) for _, v in source])
    scratch, _ = KnowledgeBase.objects.get_or_create(workspace=workspace, name="write bench", created_by=user)
    document, _ = Document.objects.get_or_create(kb=scratch, name="write bench", source_type="text_input")

    def store() -> float:
        started = time.perf_counter()
        with transaction.atomic():
            replace_chunks(
                document_id=document.pk, kb_id=scratch.pk, language="english", version=1, chunks=chunks,
                vectors=vectors,
            )  # fmt: skip
        return time.perf_counter() - started

    def switched(on: bool) -> None:
        with connection.cursor() as cursor:
            state = "ENABLE" if on else "DISABLE"
            cursor.execute(f"ALTER TABLE kb_chunk {state} TRIGGER kb_chunk_content_version")

    store()  # warm: the first write pays the planner and the index pages
    times = {True: [], False: []}
    try:
        for _ in range(rounds):
            for on in (False, True):
                switched(on)
                times[on].append(store())
    finally:
        switched(True)
    off, on = statistics.median(times[False]), statistics.median(times[True])
    print(f"\nreplace_chunks of {count} chunks (one transaction, median of {rounds})")
    print(f"trigger off {off * 1000:.1f} ms, on {on * 1000:.1f} ms: ratio {on / off:.3f}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--chunks", type=int, default=500)
    parser.add_argument("--rows", type=int, default=5000, help="chunks in the KB (derived rows fill it up)")
    args = parser.parse_args()
    django_setup(DB_NAME)
    print(machine())
    from kb.models import Chunk

    user, workspace = bench_user_and_workspace()
    kb = build_kb(user, workspace)
    grow_kb(kb, args.rows)
    texts = list(Chunk.objects.filter(kb=kb, document__name__endswith=".md").values_list("content", flat=True))
    total = Chunk.objects.filter(kb=kb).count()
    print(f"KB: {total} chunks ({len(texts)} real ones from the corpus Markdown files, the rest derived from them)")
    step = max(1, len(texts) // args.queries)
    queries = [" ".join(t.split()[:8]) for t in texts[::step][: args.queries]]
    bench_search(kb, queries, args.rounds)
    bench_writes(kb, user, workspace, args.chunks, args.rounds)


if __name__ == "__main__":
    main()
