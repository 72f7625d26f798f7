"""Export a model's transformer to ONNX once, verified against the torch reference.

Layout: <cache_dir>/<model-name>/model.onnx + meta.json. meta.json records what the export was
made from (weights size/mtime, library versions, recipe) so a changed model or library triggers
a new export, and records failures too so that workers don't retry a doomed export at each start.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
import warnings
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from .backends import OnnxEmbedder, import_sentence_transformer, l2_normalize
from .cache import atomic_write_text, locked, model_cache_dir, prepare_tokenizer, temp_path
from .spec import ModelSpec

log = logging.getLogger(__name__)

MIN_COSINE = 0.999  # the bar for "same vectors as the reference"
RECIPE = 1  # bump when the export steps change, to invalidate existing exports
# Encoder families whose graphs onnxruntime's transformer optimiser fuses as "bert".
_FUSABLE = {"bert", "mpnet", "roberta", "xlm-roberta", "distilbert", "electra"}

# Short and long (truncated), prose, code, numbers, non-Latin scripts and an empty string, in one
# call so batches mix very different lengths and exercise padding.
REFERENCE_TEXTS = [
    "",
    "Hello world.",
    "How do I reset my password?",
    "The quick brown fox jumps over the lazy dog. " * 60,
    "def resolve(path: str) -> str:\n    return os.path.realpath(path)  # follow symlinks",
    "Invoice #4711 dated 2024-03-15: 3 x widgets at EUR 19.99 each, total EUR 59.97 incl. VAT.",
    "Die Kündigungsfrist beträgt drei Monate zum Quartalsende.",
    "東京は日本の首都であり、人口は約1400万人です。",
    "Ceci n'est pas une pipe; c'est une représentation d'une pipe.",
    "Knowledge bases split documents into chunks, embed each chunk and store the vectors for "
    "similarity search; retrieval then returns the chunks nearest to the question. " * 4,
    "   leading and trailing whitespace   ",
    "SELECT id, title FROM documents WHERE status = 'ready' ORDER BY created_at DESC LIMIT 10;",
]


@dataclass
class ExportReport:
    model: str
    model_file: str | None  # None when no verified export exists
    verified: bool
    optimized: bool = False
    min_cosine: float | None = None
    seconds: float | None = None
    reason: str | None = None  # why the ONNX backend is unavailable
    fingerprint: dict | None = None


def _fingerprint(spec: ModelSpec) -> dict:
    root = Path(spec.path)
    files = {}
    for name in ("config.json", "model.safetensors", "pytorch_model.bin", "tokenizer.json"):
        if (root / name).is_file():
            stat = (root / name).stat()
            files[name] = [stat.st_size, stat.st_mtime_ns]
    libs = {}
    for lib in ("torch", "transformers", "onnxruntime", "tokenizers"):
        try:
            libs[lib] = version(lib)
        except PackageNotFoundError:
            libs[lib] = None
    return {"path": spec.path, "files": files, "libs": libs, "recipe": RECIPE}


def _read_report(directory: Path, spec: ModelSpec) -> ExportReport | None:
    try:
        data = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
        report = ExportReport(**data)
    except (FileNotFoundError, ValueError, TypeError):
        return None
    if report.fingerprint != _fingerprint(spec):
        return None
    if report.verified and not (report.model_file and Path(report.model_file).is_file()):
        return None
    return report


def _min_cosine(vectors: np.ndarray, reference: np.ndarray) -> float:
    return float((l2_normalize(vectors) * l2_normalize(reference)).sum(axis=1).min())


def _torch_export(st, target: Path, tokenizer_path: Path) -> None:
    import torch
    from tokenizers import Tokenizer

    model = st[0].auto_model.eval()
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in inspect.signature(model.forward).parameters:
        names.append("token_type_ids")

    class Wrapper(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            return self.inner(**dict(zip(names, args, strict=True))).last_hidden_state

    # The dummy batch must contain padding: with an all-ones mask transformers skips building
    # the attention mask and the trace would ignore padding forever.
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    samples = ["a short one", "a rather longer sentence, so that the first row is padded"]
    encs = tokenizer.encode_batch(samples)
    width = max(len(e.ids) for e in encs)
    ids = torch.zeros((2, width), dtype=torch.long)
    mask = torch.zeros((2, width), dtype=torch.long)
    for row, enc in enumerate(encs):
        ids[row, : len(enc.ids)] = torch.tensor(enc.ids)
        mask[row, : len(enc.ids)] = 1
    args = (ids, mask, torch.zeros_like(ids))[: len(names)]
    axes = {name: {0: "batch", 1: "sequence"} for name in [*names, "token_embeddings"]}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation chatter about the TorchScript exporter
        # dynamo=False: the dynamo exporter needs onnxscript, which this stack does not install.
        torch.onnx.export(
            Wrapper(model),
            args,
            str(target),
            dynamo=False,
            input_names=names,
            output_names=["token_embeddings"],
            dynamic_axes=axes,
            opset_version=17,
            do_constant_folding=True,
        )


def _fuse(spec: ModelSpec, source: Path, target: Path) -> bool:
    """Offline transformer fusions (Attention, SkipLayerNorm, BiasGelu): the "O3" of optimum."""
    if spec.model_type not in _FUSABLE or not spec.num_heads:
        return False
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(
        str(source), model_type="bert", num_heads=spec.num_heads, hidden_size=spec.hidden_size, opt_level=1
    )
    optimized.save_model_to_file(str(target))
    return True


def _export(spec: ModelSpec, directory: Path, tokenizer_path: Path) -> ExportReport:
    started = time.monotonic()
    # Eager attention traces to plain MatMul/Softmax that onnxruntime's optimiser fuses into its
    # Attention kernel (the SDPA trace does not fuse: ~10% slower). The same instance is the
    # reference; it is not the cached one so that its memory is freed once the export is done.
    reference = import_sentence_transformer()(
        spec.path, device="cpu", local_files_only=True, model_kwargs={"attn_implementation": "eager"}
    )
    dims = getattr(reference, "get_embedding_dimension", reference.get_sentence_embedding_dimension)()
    if (dims, reference.max_seq_length) != (spec.dimensions, spec.max_seq_length):
        raise RuntimeError(
            f"config read as dims={spec.dimensions}, max_seq_length={spec.max_seq_length} but "
            f"sentence-transformers loads dims={dims}, max_seq_length={reference.max_seq_length}"
        )
    expected = reference.encode(REFERENCE_TEXTS, convert_to_numpy=True, show_progress_bar=False)

    final = directory / "model.onnx"
    raw, fused = temp_path(final), temp_path(final)
    try:
        _torch_export(reference, raw, tokenizer_path)
        candidates = [(fused, True)] if _fuse(spec, raw, fused) else []
        candidates.append((raw, False))  # plain graph when fusion is unavailable or drifts
        scores = []
        for path, optimized in candidates:
            try:
                embedder = OnnxEmbedder(spec, tokenizer_path, path)
                score = _min_cosine(embedder.encode(REFERENCE_TEXTS), expected)
            except Exception:  # a fused graph that cannot run is as good as one that drifts
                log.warning("ONNX candidate (optimized=%s) failed to run", optimized, exc_info=True)
                score = -1.0
            scores.append(score)
            if score >= MIN_COSINE:
                path.replace(final)
                return ExportReport(spec.name, str(final), True, optimized, score)
        return ExportReport(
            spec.name, None, False, min_cosine=max(scores), reason=f"ONNX vectors drift (min cosine {scores})"
        )
    finally:
        raw.unlink(missing_ok=True)
        fused.unlink(missing_ok=True)
        log.info("ONNX export of %s took %.1f s", spec.name, time.monotonic() - started)


def ensure_onnx(spec: ModelSpec, cache_dir: str, *, force: bool = False) -> ExportReport:
    """The verified export for `spec`, exporting it first if needed (one process at a time)."""
    directory = model_cache_dir(spec, cache_dir)
    if not force:
        with locked(directory, exclusive=False):
            report = _read_report(directory, spec)
        if report is not None:
            return report
    if spec.onnx_blocker:
        return ExportReport(spec.name, None, False, reason=spec.onnx_blocker)
    with locked(directory, exclusive=True):
        report = None if force else _read_report(directory, spec)  # another process may have won
        if report is None:
            started = time.monotonic()
            tokenizer_path = prepare_tokenizer(spec, cache_dir)
            try:
                report = _export(spec, directory, tokenizer_path)
            except Exception as exc:  # any export failure means "use torch", never a failed document
                log.warning("ONNX export of %s failed, torch will be used", spec.name, exc_info=True)
                report = ExportReport(spec.name, None, False, reason=f"export failed: {exc!r}")
            report.seconds = round(time.monotonic() - started, 2)
            report.fingerprint = _fingerprint(spec)
            atomic_write_text(directory / "meta.json", json.dumps(asdict(report), indent=2))
    return report
