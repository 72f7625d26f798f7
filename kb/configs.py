"""Validation of the three KB configurations (one schema for drafts, KBs, the API and the wizard)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from django.conf import settings
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


# A model is named, never located: "name" or "org/name", each part starting with a letter or digit. No absolute
# path, no "..", no backslash — the name is joined to EMBEDDING_MODELS_PATH, and a path would let a caller probe
# the server's file system (the "not installed" error used to list where it looked).
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}(?:/[A-Za-z0-9][A-Za-z0-9._-]{0,127})?")


def installed_models() -> list[str]:
    """The models this installation offers: DEFAULT_EMBEDDING_MODEL plus every model folder (one holding a
    config.json) copied under EMBEDDING_MODELS_PATH by the operator (see `manage.py setup_models`)."""
    names = [settings.DEFAULT_EMBEDDING_MODEL]
    root = Path(settings.EMBEDDING_MODELS_PATH)
    if root.is_dir():
        names += sorted(p.name for p in root.iterdir() if (p / "config.json").is_file() and p.name not in names)
    return names


def check_model_name(model) -> str:
    """`model` if it names an installed model ("org/name" matches the folder "name", as the loader looks it up);
    otherwise a ValidationError that lists the installed models and says nothing about the file system."""
    if not isinstance(model, str) or not model.strip():
        raise _error("embedding_config.model", "a model name is required")
    model = model.strip()
    offered = installed_models()
    if not _MODEL_NAME.fullmatch(model) or ".." in model:
        raise _error(
            "embedding_config.model", f"must be the name of an installed model, not a path: {', '.join(offered)}"
        )
    lowered = {name.lower() for name in offered}
    short = model.rsplit("/", 1)[-1]
    if model.lower() not in lowered and short.lower() not in lowered:
        raise _error("embedding_config.model", f"'{model}' is not an installed model; installed: {', '.join(offered)}")
    return model


def model_dimensions(model: str) -> int:
    """The output dimension of an installed sentence-transformers model (from its config files).

    Every caller (the config validators, the KB archive importer with a name read from an uploaded manifest) gets
    the same rule: an installed model's name or a PipelineError("model_missing") that shows no path."""
    from kb.pipeline import runtime

    try:
        model = check_model_name(model)
    except ValidationError as exc:
        raise PipelineError("model_missing", " ".join(exc.messages)) from None
    try:
        path = Path(runtime.model_path(model))
        for candidate in sorted(path.glob("[0-9]*_Dense/config.json")):
            return int(json.loads(candidate.read_text())["out_features"])
        pooling = path / "1_Pooling" / "config.json"
        if pooling.exists():
            return int(json.loads(pooling.read_text())["word_embedding_dimension"])
        return int(json.loads((path / "config.json").read_text())["hidden_size"])
    except (PipelineError, OSError, ValueError, KeyError):  # listed, but its files are broken: the operator's
        raise PipelineError(  # problem (manage.py setup_models says what), and no path is shown to the caller
            "model_missing", f"'{model}' is listed but cannot be loaded on this server (see manage.py setup_models)"
        ) from None


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
    model = check_model_name(config.get("model", "all-MiniLM-L6-v2"))
    try:
        dims = model_dimensions(model)
    except PipelineError as exc:  # its message names no path
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
