"""The two ways of computing sentence vectors: onnxruntime on an exported graph, or torch.

Both produce what the model's sentence-transformers config produces (same truncation, pooling
and, when the config has a Normalize module, L2 normalisation), as float32 arrays.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from .cache import pad_token_id
from .spec import ModelSpec


def cpu_count() -> int:
    # Affinity, not os.cpu_count(): containers often pin a process to fewer cores than the host has.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def import_sentence_transformer():
    """SentenceTransformer class, imported on demand (7-12 s cold, pulls in torch)."""
    # Models load from local folders only; HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE (set by settings.py, see
    # privexbot.env.OFFLINE_ENVIRONMENT) make any stray hub lookup fail at once instead of hanging.
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer


@functools.cache
def load_sentence_transformer(path: str):
    """The reference torch model for `path`, loaded once per process (the torch backend shares it)."""
    return import_sentence_transformer()(path, device="cpu", local_files_only=True)


def pool(hidden: np.ndarray, mask: np.ndarray, modes: tuple[str, ...]) -> np.ndarray:
    """sentence-transformers' Pooling module in numpy (right-padded batches)."""
    weights = mask.astype(np.float32)
    parts = []
    for mode in modes:
        if mode == "cls":
            parts.append(hidden[:, 0])
        elif mode == "max":
            parts.append(np.where(weights[..., None] > 0, hidden, -np.inf).max(axis=1))
        else:  # mean / mean_sqrt_len_tokens
            total = np.einsum("bsh,bs->bh", hidden, weights)
            count = np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
            parts.append(total / (count if mode == "mean" else np.sqrt(count)))
    return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]


# A batch takes only texts within this share of its longest one's tokens: a padded token costs as much compute as a
# real one, and batching texts of different lengths costs more than it saves (issue 18, measured in-process on the
# small pages of tests/bench/bench_ingest.py: a document's ~8 chunks in fixed batches of 4 took 20.2 CPU-s, one
# text per call 17.4, these batches 17.1, and all the run's texts sorted together in batches of 4 16.1).
PADDING_TOLERANCE = 0.1


def length_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Row indices of `lengths` in batches for the encoder: longest first, at most `batch_size` rows, and a row
    joins a batch only when its length is within PADDING_TOLERANCE of the batch's first (longest) row."""
    order = np.argsort(-lengths, kind="stable")
    batches, start = [], 0
    while start < len(order):
        floor = lengths[order[start]] * (1.0 - PADDING_TOLERANCE)
        end = start + 1
        while end < len(order) and end - start < batch_size and lengths[order[end]] >= floor:
            end += 1
        batches.append(order[start:end])
        start = end
    return batches


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)  # same epsilon as torch.nn.functional.normalize


class Embedder:
    """Sentence vectors for one model.

    `normalized` tells whether vectors have unit length (the model's config has a Normalize
    module): true for the default all-MiniLM-L6-v2 and for all-mpnet-base-v2; false for
    dot-product models such as multi-qa-mpnet-base-dot-v1, whose vectors are kept as the
    model makes them so that inner-product scoring means what the model was trained for.
    """

    backend = ""
    threads = 0  # the CPU threads one encode uses (set by each backend)

    def __init__(self, spec: ModelSpec, tokenizer_path: Path):
        from tokenizers import Tokenizer

        self.spec = spec
        self.name = spec.name
        self.model_path = spec.path
        self.dimensions = spec.dimensions
        self.max_seq_length = spec.max_seq_length
        self.normalized = spec.normalize
        # A tokenizer.json without truncation or padding (see cache.prepare_tokenizer).
        self.tokenizer_path = str(tokenizer_path)
        self._counter = Tokenizer.from_file(self.tokenizer_path)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.backend} dims={self.dimensions}>"

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Token counts in the model's own tokenizer, special tokens included, never truncated."""
        return [len(enc.ids) for enc in self._counter.encode_batch(list(texts))]

    def encode(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        """Vectors of `texts`, in order (the workers' encodes take turns around the call: embed.encode_in_turn)."""
        raise NotImplementedError

    def _empty(self) -> np.ndarray:
        return np.zeros((0, self.dimensions), dtype=np.float32)


class OnnxEmbedder(Embedder):
    backend = "onnx"

    def __init__(self, spec: ModelSpec, tokenizer_path: Path, model_file: Path, *, threads: int = 0):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        super().__init__(spec, tokenizer_path)
        self.model_file = str(model_file)
        # A second instance so that truncation state never leaks into count_tokens.
        self._tokenizer = Tokenizer.from_file(self.tokenizer_path)
        self._tokenizer.enable_truncation(max_length=spec.max_seq_length)
        self._pad_id = pad_token_id(spec, self._tokenizer)

        options = ort.SessionOptions()
        # threads 0: every core of this process. The workers' encodes take turns (embedding.turns) so that those
        # running at once never hold more threads than there are cores: oversubscribed, every matmul's parallel
        # section waits for a descheduled thread (issue 18).
        self.threads = threads or cpu_count()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1  # one linear graph: parallelism is inside the matmuls
        # Idle pool threads sleep instead of spinning: a spinning thread burns the core that another encoder,
        # the database or the parse child of this machine needs (measured on a loaded 2-core machine: two processes
        # of 2 threads each, 1.4 chunks/s each with spinning off against 1.0 with it on; alone, 7.1 against 7.2).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # its warnings about unused initialisers are noise here
        self._session = ort.InferenceSession(self.model_file, options, providers=["CPUExecutionProvider"])
        self._inputs = [i.name for i in self._session.get_inputs()]

    def encode(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        if not texts:
            return self._empty()
        encodings = self._tokenizer.encode_batch(list(texts))
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        out = np.empty((len(encodings), self.dimensions), dtype=np.float32)
        for rows in length_batches(lengths, batch_size):  # padding costs as much compute as real tokens
            width = int(lengths[rows].max())
            feed = {
                "input_ids": np.full((len(rows), width), self._pad_id, dtype=np.int64),
                "attention_mask": np.zeros((len(rows), width), dtype=np.int64),
                "token_type_ids": np.zeros((len(rows), width), dtype=np.int64),
            }
            for r, i in enumerate(rows):
                enc = encodings[i]
                n = len(enc.ids)
                feed["input_ids"][r, :n] = enc.ids
                feed["attention_mask"][r, :n] = 1
                feed["token_type_ids"][r, :n] = enc.type_ids
            hidden = self._session.run(None, {name: feed[name] for name in self._inputs})[0]
            out[rows] = pool(hidden, feed["attention_mask"], self.spec.pooling)
        return l2_normalize(out) if self.normalized else out


class TorchEmbedder(Embedder):
    backend = "torch"

    def __init__(self, spec: ModelSpec, tokenizer_path: Path, *, threads: int = 0):
        super().__init__(spec, tokenizer_path)
        self._model = load_sentence_transformer(spec.path)
        self.threads = threads or cpu_count()
        if threads:  # torch's pool is per process: the worker's share of the cores, as for onnx
            import torch

            torch.set_num_threads(threads)

    def encode(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        if not texts:
            return self._empty()
        return self._encode(texts, batch_size)

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        # normalize_embeddings follows the config (a Normalize module already normalises; a dot
        # model must stay unnormalised to match the ONNX backend and its training objective).
        vectors = self._model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=self.normalized,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
