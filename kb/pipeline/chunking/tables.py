"""Tables: rendered one row per line ("a | b"), chunked as row groups that each repeat the header."""

from __future__ import annotations

from collections.abc import Mapping

from .splitter import split_text

CELL_SEPARATOR = " | "


def is_table(element: Mapping) -> bool:
    table = element.get("table")
    if element.get("type") != "Table" or not isinstance(table, Mapping):
        return False
    return bool(table.get("header") or table.get("rows"))


def _line(cells) -> str:
    # One row must stay one line, or the header/row structure of a chunk would be ambiguous.
    return CELL_SEPARATOR.join(" ".join(str(cell if cell is not None else "").split()) for cell in cells)


def render_rows(table: Mapping) -> tuple[str, list[tuple[int, str]]]:
    """The header line and (row index, line) for every row that has any text."""
    rows = []
    for index, cells in enumerate(table.get("rows") or []):
        if any(str(cell if cell is not None else "").strip() for cell in cells):
            rows.append((index, _line(cells)))
    return _line(table.get("header") or []), rows


def render_table(table: Mapping) -> str:
    header, rows = render_rows(table)
    return "\n".join(line for line in [header, *(text for _, text in rows)] if line)


Piece = tuple[str, list[int] | None, str]  # content, [first, last] row index or None, the head it repeats


def table_pieces(table: Mapping, *, prefix: str, chunk_size: int, separators: list[str]) -> list[Piece]:
    """Chunk contents for one table, each with [first, last] row index (None for the header-only case) and the
    leading part of the content that is repeated (prefix and header, or the prefix alone for a wide table).

    Every piece is `prefix` (a heading line, may be empty), the header line, then as many whole rows as
    fit in chunk_size. A row too long on its own is cut (the header is still repeated). A header so wide
    that repeating it would leave less than half a chunk for rows is not repeated: the table is split as
    plain text instead, so no data is ever dropped.
    """
    header, rows = render_rows(table)
    head = "\n\n".join(part for part in (prefix, header) if part)
    if len(head) > chunk_size // 2:
        return _as_text(table, prefix=prefix, chunk_size=chunk_size, separators=separators)
    if not rows:
        return [(head, None, "")] if head else []
    budget = chunk_size - len(head) - (1 if head else 0)
    pieces: list[Piece] = []
    group: list[tuple[int, str]] = []
    size = 0
    for index, line in rows:
        if group and size + 1 + len(line) > budget:
            pieces.append(_piece(head, group))
            group, size = [], 0
        if len(line) > budget:
            row_separators = [CELL_SEPARATOR, *separators]
            for start, end in split_text(line, budget, 0, row_separators):
                pieces.append(_piece(head, [(index, line[start:end])]))
            continue
        size += len(line) + (1 if group else 0)
        group.append((index, line))
    if group:
        pieces.append(_piece(head, group))
    return pieces


def _piece(head: str, group: list[tuple[int, str]]) -> Piece:
    body = "\n".join(line for _, line in group)
    rows = [group[0][0], group[-1][0]]
    return (f"{head}\n{body}", rows, f"{head}\n") if head else (body, rows, "")


def _as_text(table: Mapping, *, prefix: str, chunk_size: int, separators: list[str]) -> list[Piece]:
    text = render_table(table)
    budget = chunk_size - (len(prefix) + 2 if prefix else 0)
    lines_first = ["\n", *separators]
    pieces = []
    for start, end in split_text(text, budget, 0, lines_first):
        body = text[start:end]
        pieces.append((f"{prefix}\n\n{body}", None, f"{prefix}\n\n") if prefix else (body, None, ""))
    return pieces
