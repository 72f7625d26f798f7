"""chunk_elements: the one function the draft preview and the ingestion worker both call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..types import ChunkData, Element
from .config import normalize_chunking_config
from .document import Document, Draft
from .semantic import semantic_drafts
from .strategies import by_heading_drafts, by_page_drafts, recursive_drafts

if TYPE_CHECKING:
    import numpy as np

_STRATEGIES = {
    "recursive": recursive_drafts,
    "by_heading": by_heading_drafts,
    "by_page": by_page_drafts,
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

    doc = Document(list(elements))
    if config["strategy"] == "semantic":
        drafts = semantic_drafts(doc, config, embed)
    else:
        drafts = _STRATEGIES[config["strategy"]](doc, config)
    drafts = [draft for draft in drafts if draft.content.strip()]
    if not drafts:
        return []

    counts = list(count_tokens([draft.content for draft in drafts]))
    if len(counts) != len(drafts):
        raise ValueError(f"count_tokens: returned {len(counts)} counts for {len(drafts)} texts")
    return [
        ChunkData(
            index=index,
            content=draft.content,
            token_count=int(count),
            word_count=len(draft.content.split()),
            char_count=len(draft.content),
            truncated=int(count) > max_seq_length,
            metadata=_metadata(doc, draft, source or {}),
        )
        for index, (draft, count) in enumerate(zip(drafts, counts, strict=True))
    ]


def _metadata(doc: Document, draft: Draft, source: dict) -> dict[str, Any]:
    elements = [doc.elements[index] for index in draft.elements]
    pages = [element["page"] for element in elements if element.get("page") is not None]
    if draft.repeated_title is not None:
        elements.append(doc.elements[draft.repeated_title])
    if draft.heading_path is not None:
        heading_path = list(draft.heading_path)
    else:
        heading_path = doc.section_path(draft.elements[0]) if draft.elements else []
    metadata: dict[str, Any] = {
        "page": pages[0] if pages else None,
        "pages": sorted(set(pages)),
        "heading_path": heading_path,
        "element_types": sorted({element.get("type") or "Text" for element in elements}),
        "start_char": draft.start,
        "end_char": draft.end,
        **draft.extra,
    }
    # The source's keys (source_id, source_name, ...) never override what the chunker computed.
    metadata.update({key: value for key, value in source.items() if key not in metadata})
    return metadata
