"""The chunking step of the pipeline (parse -> chunk -> embed -> store).

One pure, deterministic function serves both the draft's live preview and the ingestion worker, so what
a user previews is what gets indexed. The implementation lives in the kb.pipeline.chunking package.
"""

from kb.pipeline.chunking import (
    CHUNKER_VERSION,
    DEFAULT_CONFIG,
    SEMANTIC_DEFAULTS,
    STRATEGIES,
    ChunkingConfigError,
    chunk_elements,
    config_hash,
    make_token_counter,
    normalize_chunking_config,
)

__all__ = [
    "CHUNKER_VERSION",
    "DEFAULT_CONFIG",
    "SEMANTIC_DEFAULTS",
    "STRATEGIES",
    "ChunkingConfigError",
    "chunk_elements",
    "config_hash",
    "make_token_counter",
    "normalize_chunking_config",
]
