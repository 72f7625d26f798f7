"""Settings-bound access to the embedding model for the pipeline and the preview.

Token counting and the model's limits come from the model's files only (tokenizers, JSON configs), so
the web process can preview chunks without importing torch; the embedder itself loads lazily, once
per process.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from django.conf import settings


def models_cache_dir() -> str:
    return str(Path(settings.VAR_DIR) / "models-cache")


@cache
def model_path(model_name: str) -> str:
    from kb.pipeline.embed import resolve_model_path

    return resolve_model_path(model_name, models_path=settings.EMBEDDING_MODELS_PATH)


@cache
def max_seq_length(model_name: str) -> int:
    config = Path(model_path(model_name)) / "sentence_bert_config.json"
    if config.exists():
        return int(json.loads(config.read_text()).get("max_seq_length", 512))
    return 512


@cache
def token_counter(model_name: str):
    from kb.pipeline.chunking import make_token_counter

    return make_token_counter(str(Path(model_path(model_name)) / "tokenizer.json"))


def embedder(model_name: str):
    from kb.pipeline.embed import get_embedder

    return get_embedder(
        model_name,
        models_path=settings.EMBEDDING_MODELS_PATH,
        cache_dir=models_cache_dir(),
        backend=settings.EMBEDDING_BACKEND.lower(),
    )


def chunk_for_model(elements, chunking_config: dict, model_name: str, *, source: dict | None = None):
    """The one call that turns elements into chunks, for the preview and the worker alike."""
    from kb.pipeline.chunking import chunk_elements

    semantic = chunking_config.get("strategy") == "semantic"
    return chunk_elements(
        elements,
        chunking_config,
        count_tokens=token_counter(model_name),
        max_seq_length=max_seq_length(model_name),
        embed=(lambda texts: embedder(model_name).encode(texts)) if semantic else None,
        source=source,
    )
