"""Embed step: text -> sentence vectors with the knowledge base's model. Django-free.

Backends (the issue asks for the fastest one whose vectors stay within cosine 0.999 of the
sentence-transformers reference):
  onnx   the model's transformer exported once to <cache_dir>/<model>/model.onnx, fused by
         onnxruntime's transformer optimiser, run by onnxruntime with tokenisation by `tokenizers`;
  torch  sentence-transformers itself (imports torch: 7-12 s cold), the reference.
"auto" uses onnx when its export exists or can be made and passed verification, else torch.

Vectors are what the model's config says: L2-normalised when it has a Normalize module (the
default all-MiniLM-L6-v2 does, as the issue requires), raw for dot-product models such as
multi-qa-mpnet-base-dot-v1. `Embedder.normalized` tells which, for choosing the distance.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from kb.pipeline.embedding.backends import (
    Embedder,
    OnnxEmbedder,
    TorchEmbedder,
    cpu_count,
    l2_normalize,
    load_sentence_transformer,
)
from kb.pipeline.embedding.cache import prepare_tokenizer
from kb.pipeline.embedding.onnx_export import MIN_COSINE, REFERENCE_TEXTS, ExportReport, ensure_onnx
from kb.pipeline.embedding.spec import DEFAULT_MODEL, load_spec, resolve_model_path
from kb.pipeline.embedding.turns import encode_turn, slots_for
from kb.pipeline.types import PipelineError

__all__ = [
    "DEFAULT_MODEL",
    "MIN_COSINE",
    "REFERENCE_TEXTS",
    "Embedder",
    "ExportReport",
    "encode_in_turn",
    "export_onnx",
    "get_embedder",
    "resolve_model_path",
    "verify_embedder",
]

log = logging.getLogger(__name__)
BACKENDS = ("auto", "onnx", "torch")

_embedders: dict[tuple[str, str], Embedder] = {}
_lock = threading.Lock()


def export_onnx(
    model_name: str,
    *,
    models_path: str | None,
    cache_dir: str,
    force: bool = False,
) -> ExportReport:
    """Export and verify the ONNX model ahead of time (for the setup_models command).

    Idempotent: an up-to-date export (or a recorded failure) is reused unless `force`.
    """
    path = resolve_model_path(model_name, models_path=models_path)
    spec = load_spec(model_name, path)
    prepare_tokenizer(spec, cache_dir)
    return ensure_onnx(spec, cache_dir, force=force)


def _build(model_name: str, path: str, cache_dir: str, backend: str, threads: int) -> Embedder:
    spec = load_spec(model_name, path)
    tokenizer_path = prepare_tokenizer(spec, cache_dir)
    if backend in ("auto", "onnx"):
        report = ensure_onnx(spec, cache_dir)
        if report.verified and report.model_file:
            return OnnxEmbedder(spec, tokenizer_path, report.model_file, threads=threads)
        if backend == "onnx":
            raise PipelineError(
                "backend_unavailable",
                f"ONNX backend unavailable for {spec.name}: {report.reason}",
                permanent=False,
            )
        log.warning("Embedding with torch for %s: %s", spec.name, report.reason)
    return TorchEmbedder(spec, tokenizer_path, threads=threads)


def get_embedder(
    model_name: str,
    *,
    models_path: str | None,
    cache_dir: str,
    backend: str = "auto",
    threads: int = 0,
) -> Embedder:
    """The process-wide embedder for (model, backend, threads); the first call may export the ONNX model.
    threads: the encoder's CPU threads (0: every core of this process)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    if threads < 0:
        raise ValueError(f"threads must be 0 (every core) or more, not {threads}")
    path = resolve_model_path(model_name, models_path=models_path)
    key = (path, backend, threads)
    with _lock:  # one build per key even when worker threads start together
        embedder = _embedders.get(key)
        if embedder is None:
            embedder = _embedders[key] = _build(model_name, path, cache_dir, backend, threads)
    return embedder


def encode_in_turn(
    embedder: Embedder, texts: list[str], *, batch_size: int, threads: int = 0, scope: str = ""
) -> np.ndarray:
    """embedder.encode in one of this machine's encode turns (embedding.turns): encodes running at once never ask
    for more threads than there are cores. threads: what the embedder was built with (0: every core); scope: the
    installation whose workers take turns together. For the workers' document embeddings, not for query
    embeddings.

    One turn for the whole call, not one per model batch: the workers call with one group of a document's texts
    (EMBEDDING_BATCH_SIZE * 8, about a second of encoding), so a long document still lets another encode in
    between its groups, while a small document's encode runs whole. Per batch, two processes' small documents
    took alternate batches, finished their encodes together and then both parsed and stored while the cores
    idled (issue 18)."""
    slots = slots_for(threads or cpu_count())
    with encode_turn(slots, scope=scope):
        return embedder.encode(texts, batch_size=batch_size)


def verify_embedder(embedder: Embedder, reference_texts: list[str]) -> float:
    """Minimum cosine between `embedder` and the torch sentence-transformers reference."""
    if not reference_texts:
        raise ValueError("verify_embedder needs at least one text")
    reference = load_sentence_transformer(embedder.model_path).encode(
        list(reference_texts), batch_size=32, convert_to_numpy=True, show_progress_bar=False
    )
    vectors = embedder.encode(list(reference_texts))
    return float((l2_normalize(vectors) * l2_normalize(np.asarray(reference))).sum(axis=1).min())
