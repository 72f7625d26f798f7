"""The document as the chunker sees it: element texts joined by a blank line, with element offsets.

Offsets (start_char / end_char in chunk metadata) refer to this joined text, whatever the strategy.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..types import Element
from .tables import is_table, render_table

ELEMENT_JOINER = "\n\n"


@dataclass
class Candidate:
    """A chunk candidate: its text and where it came from, before numbering and token counting."""

    content: str
    start: int
    end: int
    elements: tuple[int, ...]  # indices of the elements the content was drawn from
    heading_path: list[str] | None = None  # None: the section path of the first element
    # The Title repeated as the chunk's first line when its section was split: it adds its type to the
    # chunk but not its page, since the content itself is from the body's pages.
    repeated_title: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # The leading part of `content` that every piece repeats if the fit step has to cut it further (a repeated
    # title, a table's heading and header line); the rest of content is the body that is cut.
    head: str = ""


class JoinedText:
    def __init__(self, elements: Sequence[Element]):
        self.elements = elements
        texts = [element.get("text") or "" for element in elements]
        self.text = ELEMENT_JOINER.join(texts)
        self.starts: list[int] = []
        self.ends: list[int] = []
        position = 0
        for text in texts:
            self.starts.append(position)
            self.ends.append(position + len(text))
            position += len(text) + len(ELEMENT_JOINER)
        self._blocks: dict[int, str] = {}

    def block(self, index: int) -> str:
        """What the element contributes to a chunk: its stripped text, or its table rendering."""
        if index not in self._blocks:
            element = self.elements[index]
            if is_table(element):
                self._blocks[index] = render_table(element["table"])
            else:
                self._blocks[index] = (element.get("text") or "").strip()
        return self._blocks[index]

    def is_table(self, index: int) -> bool:
        return is_table(self.elements[index])

    def covered(self, start: int, end: int) -> tuple[int, ...]:
        """Indices of the non-blank elements whose text overlaps [start, end) of the joined text."""
        first = bisect_right(self.ends, start)
        stop = bisect_left(self.starts, end)
        return tuple(i for i in range(first, stop) if self.block(i))

    def section_path(self, index: int) -> list[str]:
        """Headings the element sits under; a Title counts itself, since its chunk is about it."""
        element = self.elements[index]
        path = list(element.get("heading_path") or [])
        if element.get("type") == "Title" and self.block(index):
            path.append(self.block(index))
        return path

    def segments(self, indices: Sequence[int]) -> list[tuple[str, list[int]]]:
        """Split `indices` into ("text", run) and ("table", [i]) segments, in order.

        A text run is a stretch of consecutive elements, so its text is one contiguous slice of
        self.text and can be split on offsets.
        """
        segments: list[tuple[str, list[int]]] = []
        run_open = False  # the last segment is a text run that the next element may extend
        previous = None
        for index in indices:
            consecutive = previous is not None and index == previous + 1
            previous = index
            if not self.block(index):
                run_open = run_open and consecutive  # a blank element does not break a run
            elif self.is_table(index):
                segments.append(("table", [index]))
                run_open = False
            elif run_open and consecutive:
                segments[-1][1].append(index)
            else:
                segments.append(("text", [index]))
                run_open = True
        return segments

    def joined(self, indices: Sequence[int]) -> str:
        return ELEMENT_JOINER.join(block for block in map(self.block, indices) if block)
