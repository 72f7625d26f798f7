"""chunk_elements: the one function the draft preview and the ingestion worker both call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..types import ChunkData, Element
from .config import normalize_chunking_config
from .context import CONTEXT_MAX_TOKENS, capped_context_lines, context_line, document_title
from .fit import fit_candidates
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
    title: str | None = None,
) -> list[ChunkData]:
    """Split parsed elements into chunks; a pure function of its arguments (given a deterministic embed).

    count_tokens must count the way the model sees the text, special tokens included (see
    make_token_counter). Each chunk gets a context line (`title`, the document's title or name, and the
    chunk's heading path: "Title > Section"); what is embedded is that line, a newline and the content
    (ChunkData.embedding_text), and token_count is of that text. Chunks whose embedded text is longer than
    max_seq_length are cut further until they fit (fit.py), so `truncated` is only set if that cannot be done.
    With size_unit "tokens", chunk_size and chunk_overlap are in the model's tokens of the content.
    count_tokens is called once for the context lines, once for all chunks, and again only for pieces cut
    to fit. Metadata offsets (start_char/end_char) refer to the element texts joined by a blank line.
    """
    config = normalize_chunking_config(config)
    if isinstance(max_seq_length, bool) or not isinstance(max_seq_length, int) or max_seq_length < 1:
        raise ValueError(f"max_seq_length: must be a positive integer (got {max_seq_length!r})")
    if config["strategy"] == "semantic" and embed is None:
        raise ValueError("embed: the semantic strategy needs an embedding function")

    doc = JoinedText(list(elements))
    by_tokens = config["size_unit"] == "tokens"
    run_config = _in_characters(doc, config, count_tokens) if by_tokens else config
    if run_config["strategy"] == "semantic":
        candidates = semantic_candidates(doc, run_config, embed)
    else:
        candidates = _STRATEGIES[run_config["strategy"]](doc, run_config)
    candidates = [candidate for candidate in candidates if candidate.content.strip()]
    if not candidates:
        return []

    name = document_title(title)
    lines = [context_line(name, _heading_path(doc, candidate)) for candidate in candidates]
    capped, costs = capped_context_lines(
        lines, count_tokens=count_tokens, max_tokens=max(1, min(CONTEXT_MAX_TOKENS, max_seq_length // 4))
    )
    fitted = fit_candidates(
        doc,
        candidates,
        [capped.get(line, "") for line in lines],
        count_tokens=count_tokens,
        costs=costs,
        window=max_seq_length,
        content_tokens=config["chunk_size"] if by_tokens else None,
        separators=run_config["separators"],
        overlap=run_config["chunk_overlap"],
    )
    return [
        ChunkData(
            index=index,
            content=item.candidate.content,
            token_count=item.token_count,
            word_count=len(item.candidate.content.split()),
            char_count=len(item.candidate.content),
            truncated=item.token_count > max_seq_length,
            metadata=_metadata(doc, item.candidate, source or {}),
            context=item.context,
        )
        for index, item in enumerate(fitted)
    ]


def _in_characters(doc: JoinedText, config: dict, count_tokens) -> dict:
    """A token-sized config as the character sizes the strategies split on, from this document's own characters
    per token (one count of the whole text); the fit step then holds every chunk to the token size."""
    text = doc.text
    special, *counts = count_tokens(["", *_pieces(text)])
    tokens = max(1, sum(count - special for count in counts))
    per_token = max(1.0, len(text) / tokens)
    size = max(1, int(config["chunk_size"] * per_token))
    return {**config, "chunk_size": size, "chunk_overlap": min(size - 1, int(config["chunk_overlap"] * per_token))}


# Characters per piece when a whole document's tokens are counted: one encoding of a large document holds ~100
# bytes a token until it is counted (about 1 GB for a 131 MiB PDF's text), so it is counted in pieces cut at
# blank lines, the element boundaries of JoinedText. Whitespace ends a token in the models' tokenizers, so the
# pieces' counts add up to the whole's.
COUNT_PIECE_CHARS = 200_000


def _pieces(text: str) -> list[str]:
    pieces, start = [], 0
    while len(text) - start > COUNT_PIECE_CHARS:
        cut = text.rfind("\n\n", start + 1, start + COUNT_PIECE_CHARS)
        if cut <= start:
            cut = text.find("\n\n", start + COUNT_PIECE_CHARS)
            if cut < 0:
                break
        pieces.append(text[start:cut])
        start = cut + 2
    pieces.append(text[start:])
    return pieces


def _heading_path(doc: JoinedText, candidate: Candidate) -> list[str]:
    if candidate.heading_path is not None:
        return list(candidate.heading_path)
    return doc.section_path(candidate.elements[0]) if candidate.elements else []


def _metadata(doc: JoinedText, candidate: Candidate, source: dict) -> dict[str, Any]:
    elements = [doc.elements[index] for index in candidate.elements]
    pages = [element["page"] for element in elements if element.get("page") is not None]
    if candidate.repeated_title is not None:
        elements.append(doc.elements[candidate.repeated_title])
    heading_path = _heading_path(doc, candidate)
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
