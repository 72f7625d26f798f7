"""Chunking configuration: defaults, validation, and the hash that says when stored chunks are stale."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

# Bump whenever chunk_elements can produce different chunks for the same config and model, so that
# config_hash changes and documents chunked by an older version are known to need re-indexing.
CHUNKER_VERSION = "2"  # 2: the context line (title > headings) and fitting every chunk to the model's window

STRATEGIES = ("recursive", "by_heading", "by_page", "semantic")
SIZE_UNITS = ("characters", "tokens")
CHUNK_SIZE_MIN, CHUNK_SIZE_MAX = 100, 4000
# In tokens of the KB's model (its own tokenizer, special tokens and the context line not counted). The upper
# bound is the largest window of the models offered; a size above a model's window is cut to it by the fit step.
CHUNK_TOKENS_MIN, CHUNK_TOKENS_MAX = 32, 1024
CHUNK_OVERLAP_MAX = 1000
MAX_SEPARATORS = 20
MAX_SEPARATOR_LENGTH = 50

DEFAULT_CONFIG: dict[str, Any] = {
    "strategy": "recursive",
    "chunk_size": 1000,
    "chunk_overlap": 200,
    "separators": ["\n\n", "\n", ". ", " "],
    "size_unit": "characters",  # what chunk_size and chunk_overlap count: "characters" or "tokens"
}
# semantic_threshold is a percentile (0-100, exclusive) of the cosine distances between neighbouring
# sentences of the document: a break goes where the distance is above it. A percentile adapts to each
# document and each model; an absolute cosine distance would need re-tuning per embedding model.
SEMANTIC_DEFAULTS: dict[str, Any] = {"semantic_threshold": 95.0}
KNOWN_FIELDS = frozenset(DEFAULT_CONFIG) | frozenset(SEMANTIC_DEFAULTS)


class ChunkingConfigError(ValueError):
    """A bad chunking option; `field` names it so a form can attach the message to the right input."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def normalize_chunking_config(config: dict | None) -> dict:
    """Return a complete, validated copy of `config`; missing or None fields take their defaults.

    Options that do not apply to the chosen strategy are validated but left out of the result, so
    that changing them does not change config_hash (and does not trigger a pointless re-index).
    """
    config = {} if config is None else config
    if not isinstance(config, dict):
        raise ChunkingConfigError("config", "must be a mapping of chunking options")
    unknown = sorted(key for key in config if key not in KNOWN_FIELDS)
    if unknown:
        raise ChunkingConfigError(str(unknown[0]), "unknown chunking option")
    given = {key: value for key, value in config.items() if value is not None}
    merged = {**DEFAULT_CONFIG, **SEMANTIC_DEFAULTS, **given}

    strategy = merged["strategy"]
    if strategy not in STRATEGIES:
        raise ChunkingConfigError("strategy", f"must be one of {', '.join(STRATEGIES)} (got {strategy!r})")
    unit = merged["size_unit"]
    if unit not in SIZE_UNITS:
        raise ChunkingConfigError("size_unit", f"must be one of {', '.join(SIZE_UNITS)} (got {unit!r})")
    low, high = (CHUNK_SIZE_MIN, CHUNK_SIZE_MAX) if unit == "characters" else (CHUNK_TOKENS_MIN, CHUNK_TOKENS_MAX)
    chunk_size = _int_in_range("chunk_size", merged["chunk_size"], low, high)
    # An unset overlap is the default's 20% of chunk_size at most, so a small chunk_size alone is valid.
    default_overlap = min(DEFAULT_CONFIG["chunk_overlap"], chunk_size // 5)
    overlap = given.get("chunk_overlap", default_overlap)
    overlap = _int_in_range("chunk_overlap", overlap, 0, CHUNK_OVERLAP_MAX)
    if overlap >= chunk_size:
        raise ChunkingConfigError("chunk_overlap", f"must be smaller than chunk_size ({chunk_size})")
    normalized = {
        "strategy": strategy,
        "chunk_size": chunk_size,
        "chunk_overlap": overlap,
        "separators": _separators(merged["separators"]),
        "size_unit": unit,
    }
    threshold = _percentile("semantic_threshold", merged["semantic_threshold"])
    if strategy == "semantic":
        normalized["semantic_threshold"] = threshold
    return normalized


def config_hash(chunking_config: dict, embedding_model: str) -> str:
    """sha256 hex of the normalised config, the embedding model and CHUNKER_VERSION.

    Two configs that normalise alike (e.g. defaults spelled out or omitted) hash alike.
    """
    if not isinstance(embedding_model, str) or not embedding_model.strip():
        raise ChunkingConfigError("embedding_model", "must be a non-empty model name")
    payload = {
        "chunker_version": CHUNKER_VERSION,
        "config": normalize_chunking_config(chunking_config),
        "embedding_model": embedding_model,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _int_in_range(field: str, value: Any, low: int, high: int) -> int:
    # bool is an int subclass; True as a chunk size is a bug upstream, not a size of 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ChunkingConfigError(field, f"must be an integer (got {value!r})")
    if not low <= value <= high:
        raise ChunkingConfigError(field, f"must be between {low} and {high} (got {value})")
    return value


def _separators(value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ChunkingConfigError("separators", "must be a list of strings")
    if not value:
        raise ChunkingConfigError("separators", "must contain at least one separator")
    if len(value) > MAX_SEPARATORS:
        raise ChunkingConfigError("separators", f"at most {MAX_SEPARATORS} separators")
    for item in value:
        if not isinstance(item, str):
            raise ChunkingConfigError("separators", f"every separator must be a string (got {item!r})")
        if len(item) > MAX_SEPARATOR_LENGTH:
            raise ChunkingConfigError("separators", f"at most {MAX_SEPARATOR_LENGTH} characters each")
    return list(value)


def _percentile(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ChunkingConfigError(field, f"must be a number (got {value!r})")
    if not 0 < value < 100:
        raise ChunkingConfigError(field, f"must be a percentile between 0 and 100, exclusive (got {value})")
    return float(value)
