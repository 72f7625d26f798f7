"""Chunking one section (a page, a heading's section, the whole document): the step all strategies share."""

from __future__ import annotations

from collections.abc import Sequence

from .joined import Candidate, JoinedText
from .splitter import split_text
from .tables import table_pieces


def section_candidates(
    doc: JoinedText,
    indices: Sequence[int],
    config: dict,
    *,
    title: int | None = None,
    heading_path: list[str] | None = None,
) -> list[Candidate]:
    """One chunk if the whole section fits; otherwise its text split recursively and its tables by rows.

    When a section with a `title` has to be split, the title line is repeated as the first line of every
    piece, so each piece still says what it is about. A title longer than half a chunk is not repeated
    (it is then most likely a mis-detected paragraph) and is split like body text.
    """
    chunk_size = config["chunk_size"]
    blocks = [index for index in indices if doc.block(index)]
    if not blocks:
        return []
    whole = doc.joined(blocks)
    if len(whole) <= chunk_size:
        return [Candidate(whole, doc.starts[blocks[0]], doc.ends[blocks[-1]], tuple(blocks), heading_path)]

    prefix = ""
    body = list(indices)
    if title is not None and title == blocks[0] and len(doc.block(title)) <= chunk_size // 2:
        prefix = doc.block(title)
        body = [index for index in indices if index != title]
    repeated = title if prefix else None
    candidates: list[Candidate] = []
    for kind, run in doc.segments(body):
        split = table_candidates if kind == "table" else text_candidates
        candidates += split(doc, run, config, prefix=prefix, repeated=repeated, heading_path=heading_path)
    return candidates


def text_candidates(
    doc: JoinedText,
    run: list[int],
    config: dict,
    *,
    prefix: str = "",
    repeated: int | None = None,
    heading_path: list[str] | None = None,
) -> list[Candidate]:
    """Recursive split of a run of consecutive text elements, on offsets of the joined document text."""
    budget = config["chunk_size"] - (len(prefix) + 2 if prefix else 0)
    spans = split_text(
        doc.text,
        budget,
        config["chunk_overlap"],
        config["separators"],
        doc.starts[run[0]],
        doc.ends[run[-1]],
    )
    candidates = []
    for start, end in spans:
        body = doc.text[start:end]
        content = f"{prefix}\n\n{body}" if prefix else body
        head = f"{prefix}\n\n" if prefix else ""
        candidates.append(Candidate(content, start, end, doc.covered(start, end), heading_path, repeated, head=head))
    return candidates


def table_candidates(
    doc: JoinedText,
    run: list[int],
    config: dict,
    *,
    prefix: str = "",
    repeated: int | None = None,
    heading_path: list[str] | None = None,
) -> list[Candidate]:
    """Row groups of a table element (`run` is [its index]); start/end are the element's own span."""
    index = run[0]
    pieces = table_pieces(
        doc.elements[index]["table"],
        prefix=prefix,
        chunk_size=config["chunk_size"],
        separators=config["separators"],
    )
    return [
        Candidate(
            content,
            doc.starts[index],
            doc.ends[index],
            (index,),
            heading_path,
            repeated,
            {"table_rows": rows} if rows is not None else {},
            head,
        )
        for content, rows, head in pieces
    ]
