"""Chunking of parsed documents; see core.chunk_elements."""

from .config import (
    CHUNKER_VERSION,
    DEFAULT_CONFIG,
    SEMANTIC_DEFAULTS,
    STRATEGIES,
    ChunkingConfigError,
    config_hash,
    normalize_chunking_config,
)
from .core import chunk_elements
from .tokens import make_token_counter

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
