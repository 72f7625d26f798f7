"""Embedding throughput on real ~256-token chunks: bare sentence-transformers vs each Embedder backend.

Run:  .venv/bin/python tests/bench/bench_embed.py [--chunks 300] [--rounds 2] [--cache-dir DIR]
Rounds are interleaved and the best is kept, so a neighbour's burst of CPU skews less.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402

from kb.pipeline import embed  # noqa: E402
from kb.pipeline.embedding.backends import cpu_count  # noqa: E402

MODEL = "all-MiniLM-L6-v2"
_CORPUS_DIRS = (REPO_ROOT.parent / "shared" / "corpus", Path("/work/shared/corpus"))
CORPUS = next((p for p in _CORPUS_DIRS if p.is_dir()), None)


def build_chunks(tokenizer_path: str, count: int, tokens: int = 256) -> list[str]:
    """Cut corpus text into pieces of `tokens` word pieces ([CLS]/[SEP] included) at token offsets."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(tokenizer_path)
    files = sorted((CORPUS / "txt").glob("*.txt")) + sorted((CORPUS / "md").glob("*.md"))
    chunks: list[str] = []
    for path in files:
        text = " ".join(path.read_text(encoding="utf-8", errors="replace").split())
        offsets = tokenizer.encode(text, add_special_tokens=False).offsets
        step = tokens - 2
        for start in range(0, len(offsets) - step, step):
            chunks.append(text[offsets[start][0] : offsets[start + step - 1][1]])
            if len(chunks) == count:
                return chunks
    return chunks


def timed(fn, texts: list[str]) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    vectors = fn(texts)
    return time.perf_counter() - started, np.asarray(vectors, dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--cache-dir", default=None, help="ONNX export cache (default: a fresh temp dir)")
    args = parser.parse_args()
    cache_dir = args.cache_dir or tempfile.mkdtemp(prefix="bench-embed-")
    if args.cache_dir is None:  # a throwaway export (90 MB) measured from scratch, removed at exit
        atexit.register(shutil.rmtree, cache_dir, ignore_errors=True)

    started = time.perf_counter()
    import torch
    from sentence_transformers import SentenceTransformer

    print(f"import torch + sentence-transformers: {time.perf_counter() - started:.1f} s")
    path = embed.resolve_model_path(MODEL, models_path=None)
    baseline = SentenceTransformer(path, device="cpu")

    started = time.perf_counter()
    report = embed.export_onnx(MODEL, models_path=None, cache_dir=cache_dir)
    print(
        f"ONNX export: verified={report.verified} optimized={report.optimized} min_cos={report.min_cosine} "
        f"export {report.seconds} s (call {time.perf_counter() - started:.1f} s) {report.reason or ''}"
    )
    embedders = {}
    for backend in ("onnx", "torch"):
        embedders[backend] = embed.get_embedder(MODEL, models_path=None, cache_dir=cache_dir, backend=backend)
    embedders["auto"] = embed.get_embedder(MODEL, models_path=None, cache_dir=cache_dir)

    texts = build_chunks(embedders["onnx"].tokenizer_path, args.chunks)
    counts = embedders["onnx"].count_tokens(texts)
    print(
        f"{len(texts)} chunks, tokens min/median/max {min(counts)}/{int(np.median(counts))}/{max(counts)}; "
        f"torch threads {torch.get_num_threads()}, onnxruntime intra-op threads {cpu_count()}, "
        f"cores {os.cpu_count()}, batch size {args.batch_size}"
    )

    runs = {
        "baseline SentenceTransformer.encode": lambda t: baseline.encode(t, batch_size=args.batch_size),
        "Embedder backend=onnx": lambda t: embedders["onnx"].encode(t, batch_size=args.batch_size),
        "Embedder backend=torch": lambda t: embedders["torch"].encode(t, batch_size=args.batch_size),
    }
    for fn in runs.values():  # warm-up: first calls allocate arenas and pick kernels
        fn(texts[:32])
    best: dict[str, float] = {}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(args.rounds):
        for label, fn in runs.items():
            seconds, vectors[label] = timed(fn, texts)
            best[label] = min(best.get(label, float("inf")), seconds)

    base_label = next(iter(runs))
    base_rate = len(texts) / best[base_label]
    reference = vectors[base_label] / np.linalg.norm(vectors[base_label], axis=1, keepdims=True)
    print(f"\n{'run':40} {'chunks/s':>9} {'vs base':>8} {'min cos':>10}")
    for label, seconds in best.items():
        got = vectors[label] / np.linalg.norm(vectors[label], axis=1, keepdims=True)
        rate = len(texts) / seconds
        print(f"{label:40} {rate:9.1f} {rate / base_rate:7.2f}x {(got * reference).sum(axis=1).min():10.6f}")
    print(f"\nauto picks: {embedders['auto'].backend}  (target >= 15 chunks/s on 2 cores)")


if __name__ == "__main__":
    main()
