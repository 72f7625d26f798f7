"""The semantic strategy: break where neighbouring sentences are far apart in embedding space."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from .joined import Candidate, JoinedText
from .sections import table_candidates
from .splitter import Span, split_text, trim

# A sentence ends at . ! ? followed by whitespace; a blank line (which also joins elements) always ends
# one, so titles and list items are sentences of their own.
_BOUNDARY = re.compile(r"(?<=[.!?])\s+|\n\s*\n")


def semantic_candidates(doc: JoinedText, config: dict, embed: Callable) -> list[Candidate]:
    """Sentences are embedded in ONE call (same order, same batch, so preview and indexing agree); a break
    goes where the cosine distance to the previous sentence is above the semantic_threshold percentile of
    all such distances in the document; chunks are also cut before they would exceed chunk_size. No
    overlap: a semantic chunk is meant to be one topic. Tables are chunked by rows as in every strategy.
    """
    segments = doc.segments(range(len(doc.elements)))
    text_positions = [position for position, (kind, _) in enumerate(segments) if kind == "text"]
    runs = [
        _sentences(doc.text, doc.starts[segments[p][1][0]], doc.ends[segments[p][1][-1]], config)
        for p in text_positions
    ]
    flags = _break_flags(doc.text, runs, embed, config["semantic_threshold"])
    sentences_at = dict(zip(text_positions, zip(runs, flags, strict=True), strict=True))
    candidates: list[Candidate] = []
    for position, (kind, run) in enumerate(segments):
        if kind == "table":
            candidates += table_candidates(doc, run, config)
            continue
        sentences, starts = sentences_at[position]
        for start, end in _pack(sentences, starts, config["chunk_size"]):
            candidates.append(Candidate(doc.text[start:end], start, end, doc.covered(start, end)))
    return candidates


def _sentences(text: str, start: int, end: int, config: dict) -> list[Span]:
    spans: list[Span] = []
    position = start
    for match in _BOUNDARY.finditer(text, start, end):
        spans += _fitted(text, position, match.start(), config)
        position = match.end()
    return spans + _fitted(text, position, end, config)


def _fitted(text: str, start: int, end: int, config: dict) -> list[Span]:
    # A "sentence" longer than a chunk (a code block, a run-on line) is cut recursively first.
    start, end = trim(text, start, end)
    if start >= end:
        return []
    if end - start <= config["chunk_size"]:
        return [(start, end)]
    return split_text(text, config["chunk_size"], 0, config["separators"], start, end)


def _break_flags(text: str, runs: list[list[Span]], embed: Callable, percentile: float) -> list[list[bool]]:
    """For each run of sentences, whether each sentence starts a new chunk."""
    sentences = [text[start:end] for run in runs for start, end in run]
    if not sentences:
        return [[] for _ in runs]
    vectors = _unit_vectors(embed(sentences), len(sentences))
    distances = []
    offset = 0
    for run in runs:
        block = vectors[offset : offset + len(run)]
        distances.append(1.0 - np.einsum("ij,ij->i", block[:-1], block[1:]))
        offset += len(run)
    gaps = np.concatenate(distances)
    threshold = float(np.percentile(gaps, percentile)) if gaps.size else np.inf
    return [[False] + [bool(gap > threshold) for gap in run] for run in distances]


def _unit_vectors(raw, count: int) -> np.ndarray:
    vectors = np.asarray(raw, dtype=np.float64)
    if vectors.ndim != 2 or vectors.shape[0] != count:
        raise ValueError(f"embed: expected {count} vectors, got an array of shape {vectors.shape}")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)  # a zero vector is simply far from everything


def _pack(sentences: list[Span], starts: list[bool], chunk_size: int) -> list[Span]:
    chunks: list[Span] = []
    first = last = -1
    for (start, end), breaks in zip(sentences, starts, strict=True):
        if first >= 0 and (breaks or end - first > chunk_size):
            chunks.append((first, last))
            first = -1
        if first < 0:
            first = start
        last = end
    if first >= 0:
        chunks.append((first, last))
    return chunks
