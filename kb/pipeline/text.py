"""Pasted text -> elements, in-process (no parser child needed): paragraphs, and '#'-style headings."""

from __future__ import annotations

import re

from kb.pipeline.types import Element

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def text_to_elements(content: str) -> list[Element]:
    elements: list[Element] = []
    path: list[tuple[int, str]] = []
    for block in re.split(r"\n\s*\n", content.replace("\r\n", "\n")):
        block = block.strip()
        if not block:
            continue
        match = _HEADING.match(block) if "\n" not in block else None
        if match:
            level, title = len(match.group(1)), match.group(2)
            path = [(lvl, t) for lvl, t in path if lvl < level]
            elements.append(
                {"text": title, "type": "Title", "page": None, "level": level, "heading_path": [t for _, t in path]}
            )
            path.append((level, title))
        else:
            elements.append(
                {"text": block, "type": "NarrativeText", "page": None, "heading_path": [t for _, t in path]}
            )
    return elements
