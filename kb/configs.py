"""Validation of the three KB configurations (one schema for drafts, KBs, the API and the wizard)."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.exceptions import ValidationError

from kb.pipeline.chunking import ChunkingConfigError, normalize_chunking_config
from kb.pipeline.types import PipelineError

DISTANCE_METRICS = ("cosine", "euclidean", "dot")
# The design guide's embedding prices in USD per million tokens; self-hosted models cost nothing.
COST_PER_MILLION_TOKENS = {
    "all-MiniLM-L6-v2": 0.0,
    "all-mpnet-base-v2": 0.0,
    "text-embedding-ada-002": 100.0,
    "text-embedding-3-small": 20.0,
    "text-embedding-3-large": 130.0,
}


def _error(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})


def check_name(name: str) -> str:
    """The name of a KB or a draft: 1 to 255 characters once stripped."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 255:
        raise _error("name", "must be 1 to 255 characters")
    return name


def check_description(description: str | None) -> str:
    description = description or ""
    if len(description) > 1000:
        raise _error("description", "must be at most 1000 characters")
    return description


def validate_chunking_config(config: dict) -> dict:
    try:
        return normalize_chunking_config(config)
    except ChunkingConfigError as exc:
        raise _error(f"chunking_config.{exc.field}", str(exc).split(": ", 1)[-1]) from None


def model_dimensions(model: str) -> int:
    """The output dimension of a locally installed sentence-transformers model (from its config files)."""
    from kb.pipeline import runtime

    path = Path(runtime.model_path(model))
    for candidate in sorted(path.glob("[0-9]*_Dense/config.json")):
        return int(json.loads(candidate.read_text())["out_features"])
    pooling = path / "1_Pooling" / "config.json"
    if pooling.exists():
        return int(json.loads(pooling.read_text())["word_embedding_dimension"])
    return int(json.loads((path / "config.json").read_text())["hidden_size"])


def validate_embedding_config(config: dict) -> dict:
    if not isinstance(config, dict):
        raise _error("embedding_config", "must be an object")
    unknown = set(config) - {"provider", "model", "dimensions", "batch_size"}
    if unknown:
        raise _error(f"embedding_config.{sorted(unknown)[0]}", "unknown field")
    provider = config.get("provider", "sentence_transformers")
    if provider != "sentence_transformers":
        raise _error(
            "embedding_config.provider",
            "only self-hosted 'sentence_transformers' models are available: nothing leaves this installation",
        )
    model = config.get("model", "all-MiniLM-L6-v2")
    if not isinstance(model, str) or not model.strip():
        raise _error("embedding_config.model", "a model name is required")
    try:
        dims = model_dimensions(model)
    except PipelineError as exc:
        raise _error("embedding_config.model", exc.message) from None
    dimensions = config.get("dimensions", dims)
    if not isinstance(dimensions, int) or isinstance(dimensions, bool) or not 256 <= dimensions <= 4096:
        raise _error("embedding_config.dimensions", "must be an integer from 256 to 4096")
    if dimensions != dims:
        raise _error("embedding_config.dimensions", f"{model} produces {dims}-dimensional vectors, not {dimensions}")
    batch = config.get("batch_size", 32)
    if not isinstance(batch, int) or isinstance(batch, bool) or not 1 <= batch <= 100:
        raise _error("embedding_config.batch_size", "must be an integer from 1 to 100")
    return {"provider": provider, "model": model, "dimensions": dimensions, "batch_size": batch}


def validate_vector_store_config(config: dict) -> dict:
    if not isinstance(config, dict):
        raise _error("vector_store_config", "must be an object")
    unknown = set(config) - {"provider", "distance_metric", "enable_hybrid_search"}
    if unknown:
        raise _error(f"vector_store_config.{sorted(unknown)[0]}", "unknown field")
    provider = config.get("provider", "pgvector")
    if provider != "pgvector":
        raise _error("vector_store_config.provider", "vectors are stored in PostgreSQL with pgvector ('pgvector')")
    metric = config.get("distance_metric", "cosine")
    if metric not in DISTANCE_METRICS:
        raise _error("vector_store_config.distance_metric", f"must be one of {', '.join(DISTANCE_METRICS)}")
    hybrid = config.get("enable_hybrid_search", True)
    if not isinstance(hybrid, bool):
        raise _error("vector_store_config.enable_hybrid_search", "must be true or false")
    return {"provider": provider, "distance_metric": metric, "enable_hybrid_search": hybrid}


def check_context_settings(value) -> dict:
    if not isinstance(value, dict):
        raise _error("context_settings", "must be an object")
    return value


# field of a KB or draft -> its validator (returns the normalised value or raises ValidationError)
CONFIG_VALIDATORS = {
    "chunking_config": validate_chunking_config,
    "embedding_config": validate_embedding_config,
    "vector_store_config": validate_vector_store_config,
    "context_settings": check_context_settings,
}


def embedding_cost(total_tokens: int, model: str) -> float:
    return round(total_tokens / 1_000_000 * COST_PER_MILLION_TOKENS.get(model, 0.0), 6)
