"""Helpers shared by the format parsers: building normalised Element dicts."""

from __future__ import annotations

from kb.pipeline.types import Element, PipelineError, TableData

# unstructured categories that are page furniture, not content.
DROPPED_TYPES = frozenset({"Header", "Footer", "PageNumber", "PageBreak", "Image", "Figure", "FigureCaption"})
# Cells are joined with this in the text rendering of a table; it reads well and survives chunking.
CELL_SEP = " | "


class HeadingTracker:
    """Keeps the stack of enclosing headings while elements are emitted in document order."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []

    @property
    def path(self) -> list[str]:
        return [title for _, title in self._stack]

    def enter(self, level: int, title: str) -> list[str]:
        """Register a heading; return its own heading_path (the headings enclosing it)."""
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        parents = self.path
        self._stack.append((level, title))
        return parents


def make_element(text: str, type_: str, *, page: int | None, heading_path: list[str]) -> Element:
    return {"text": text, "type": type_, "page": page, "heading_path": list(heading_path)}


def make_title(text: str, *, level: int, page: int | None, tracker: HeadingTracker) -> Element:
    element = make_element(text, "Title", page=page, heading_path=tracker.enter(level, text))
    element["level"] = level
    return element


def make_table(header: list[str], rows: list[list[str]], *, page: int | None, heading_path: list[str]) -> Element:
    element = make_element(render_table(header, rows), "Table", page=page, heading_path=heading_path)
    element["table"] = TableData(header=header, rows=rows)
    return element


def render_table(header: list[str], rows: list[list[str]]) -> str:
    lines = [CELL_SEP.join(header)] if any(header) else []
    lines.extend(CELL_SEP.join(row) for row in rows)
    return "\n".join(lines)


def trim_table(rows: list[list[str]]) -> list[list[str]]:
    """Drop empty rows and trailing empty columns (spreadsheets often carry formatted blanks)."""
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    width = max((_used_width(row) for row in rows), default=0)
    return [(row + [""] * width)[:width] for row in rows]


def _used_width(row: list[str]) -> int:
    for i in range(len(row), 0, -1):
        if row[i - 1].strip():
            return i
    return 0


def collapse_ws(text: str) -> str:
    return " ".join(text.split())


def corrupt(filetype: str, reason: object) -> PipelineError:
    """The one way an unexpected parser failure reaches the user: short, no traceback."""
    short = collapse_ws(str(reason))[:200] or type(reason).__name__
    return PipelineError("corrupt", f"Could not read this {filetype.upper()} file: {short}")
