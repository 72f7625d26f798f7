"""Settings-bound access to the embedding model for the pipeline and the preview.

Token counting and the model's limits come from the model's files only (tokenizers, JSON configs), so
the web process can preview chunks without importing torch; the embedder itself loads lazily, once
per process.
"""

from __future__ import annotations

import json
import threading
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
        threads=settings.EMBEDDING_THREADS,
    )


_document_encoders: dict[tuple, object] = {}
_document_encoders_lock = threading.Lock()


def document_encoder(model_name: str):
    """The workers' encode for document chunks, one per process and model: concurrent calls of the process's
    threads are combined into one encode (kb.pipeline.embedding.combine), in batches of at most
    EMBEDDING_BATCH_SIZE, each call in one of this machine's encode turns (kb.pipeline.embed.encode_in_turn), so
    worker processes and threads never oversubscribe the cores."""
    from kb.pipeline.embed import encode_in_turn
    from kb.pipeline.embedding.combine import CombinedEncoder

    model, threads = embedder(model_name), settings.EMBEDDING_THREADS
    database = settings.DATABASES["default"]
    # The installation: its workers on this machine share the cores; another install or test session has its own.
    scope = f"{settings.VAR_DIR}|{database.get('HOST')}|{database.get('PORT')}|{database.get('NAME')}"
    batch_size = settings.EMBEDDING_BATCH_SIZE
    # One per embedder object and configuration: every thread of the process shares it (the embedder is the
    # process-wide one of get_embedder; another embedder or a settings change makes another).
    key = (model, threads, scope, batch_size)
    with _document_encoders_lock:
        if key not in _document_encoders:
            _document_encoders[key] = CombinedEncoder(
                lambda texts: encode_in_turn(model, texts, batch_size=batch_size, threads=threads, scope=scope)
            )
        return _document_encoders[key]


def chunk_for_model(
    elements, chunking_config: dict, model_name: str, *, source: dict | None = None, title: str | None = None
):
    """The one call that turns elements into chunks, for the preview and the worker alike. `title`: the document's
    name (the worker's Document.name, the preview's unit name it is made from), the first part of every chunk's
    context line; the same title gives the same chunks."""
    from kb.pipeline.chunking import chunk_elements

    semantic = chunking_config.get("strategy") == "semantic"
    return chunk_elements(
        elements,
        chunking_config,
        count_tokens=token_counter(model_name),
        max_seq_length=max_seq_length(model_name),
        embed=(lambda texts: embedder(model_name).encode(texts)) if semantic else None,
        source=source,
        title=title,
    )
