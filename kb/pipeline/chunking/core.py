"""chunk_elements: the one function the draft preview and the ingestion worker both call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..types import ChunkData, Element
from .config import normalize_chunking_config
from .joined import Candidate, JoinedText
from .semantic import semantic_candidates
from .strategies import by_heading_candidates, by_page_candidates, recursive_candidates

if TYPE_CHECKING:
    import numpy as np

_STRATEGIES = {
    "recursive": recursive_candidates,
    "by_heading": by_heading_candidates,
    "by_page": by_page_candidates,
}


def chunk_elements(
    elements: Sequence[Element],
    config: dict,
    *,
    count_tokens: Callable[[list[str]], list[int]],
    max_seq_length: int,
    embed: Callable[[list[str]], np.ndarray] | None = None,
    source: dict | None = None,
) -> list[ChunkData]:
    """Split parsed elements into chunks; a pure function of its arguments (given a deterministic embed).

    count_tokens must count the way the model sees the text, special tokens included (see
    make_token_counter): token_count is that count and `truncated` means token_count > max_seq_length,
    i.e. the model will not see the end of the chunk. It is called once, with every chunk text.
    Metadata offsets (start_char/end_char) refer to the element texts joined by a blank line.
    """
    config = normalize_chunking_config(config)
    if isinstance(max_seq_length, bool) or not isinstance(max_seq_length, int) or max_seq_length < 1:
        raise ValueError(f"max_seq_length: must be a positive integer (got {max_seq_length!r})")
    if config["strategy"] == "semantic" and embed is None:
        raise ValueError("embed: the semantic strategy needs an embedding function")

    doc = JoinedText(list(elements))
    if config["strategy"] == "semantic":
        candidates = semantic_candidates(doc, config, embed)
    else:
        candidates = _STRATEGIES[config["strategy"]](doc, config)
    candidates = [candidate for candidate in candidates if candidate.content.strip()]
    if not candidates:
        return []

    counts = list(count_tokens([candidate.content for candidate in candidates]))
    if len(counts) != len(candidates):
        raise ValueError(f"count_tokens: returned {len(counts)} counts for {len(candidates)} texts")
    return [
        ChunkData(
            index=index,
            content=candidate.content,
            token_count=int(count),
            word_count=len(candidate.content.split()),
            char_count=len(candidate.content),
            truncated=int(count) > max_seq_length,
            metadata=_metadata(doc, candidate, source or {}),
        )
        for index, (candidate, count) in enumerate(zip(candidates, counts, strict=True))
    ]


def _metadata(doc: JoinedText, candidate: Candidate, source: dict) -> dict[str, Any]:
    elements = [doc.elements[index] for index in candidate.elements]
    pages = [element["page"] for element in elements if element.get("page") is not None]
    if candidate.repeated_title is not None:
        elements.append(doc.elements[candidate.repeated_title])
    if candidate.heading_path is not None:
        heading_path = list(candidate.heading_path)
    else:
        heading_path = doc.section_path(candidate.elements[0]) if candidate.elements else []
    metadata: dict[str, Any] = {
        "page": pages[0] if pages else None,
        "pages": sorted(set(pages)),
        "heading_path": heading_path,
        "element_types": sorted({element.get("type") or "Text" for element in elements}),
        "start_char": candidate.start,
        "end_char": candidate.end,
        **candidate.extra,
    }
    # The source's keys (source_id, source_name, ...) never override what the chunker computed.
    metadata.update({key: value for key, value in source.items() if key not in metadata})
    return metadata
