"""The context line of a chunk: "Title > Section > Subsection", embedded and keyword-indexed with its content.

A chunk that says "it" still carries what "it" is. The line is built from the document's title and the chunk's
heading path only, so the preview and the worker, given the same title, make the same line. It is kept short
(CONTEXT_MAX_TOKENS, and at most a quarter of the model's window) so the content keeps most of the window.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

CONTEXT_SEPARATOR = " > "
CONTEXT_MAX_TOKENS = 64
PART_MAX_CHARS = 200  # per title or heading, before the token cap: a mis-detected paragraph is not a heading
ELLIPSIS = "…"
# A file's name is its title without the extension (".pdf" says nothing about the content, and PostgreSQL's
# parser would index "guide.pdf" as one file-name token that no query word matches).
_EXTENSION = re.compile(r"\.(?:pdf|docx|txt|md|markdown|html?|csv|xlsx)$", re.IGNORECASE)


def document_title(name: str | None) -> str:
    # Cut before normalising: the worker's document name is the preview's source name cut at 500 characters,
    # and both must give the same title.
    title = _part((name or "")[: PART_MAX_CHARS * 2])
    return _part(_EXTENSION.sub("", title))


def _part(text: str) -> str:
    text = " ".join(str(text).split())
    if len(text) <= PART_MAX_CHARS:
        return text
    return _cut(text, PART_MAX_CHARS)


def _cut(text: str, length: int) -> str:
    """At most `length` characters (ellipsis included), cut at a word boundary when there is one."""
    head = text[: max(0, length - len(ELLIPSIS))]
    if " " in head.strip():
        head = head.rsplit(" ", 1)[0]
    return head.rstrip() + ELLIPSIS


def context_line(title: str, heading_path: Sequence[str]) -> str:
    parts: list[str] = []
    for part in [title, *heading_path]:
        part = _part(part)
        # A page's first heading is usually its title again; the same heading twice in a row says nothing more.
        if part and (not parts or parts[-1].casefold() != part.casefold()):
            parts.append(part)
    return CONTEXT_SEPARATOR.join(parts)


def capped_context_lines(
    lines: Sequence[str], *, count_tokens: Callable[[list[str]], list[int]], max_tokens: int
) -> tuple[dict[str, str], dict[str, int]]:
    """({line: the line, or cut so it adds at most `max_tokens` tokens to a chunk}, {final line: tokens it adds,
    "": the special tokens every text gets}); both empty when there is no line.

    count_tokens is called once for the distinct lines, and again only for the lines that had to be cut.
    """
    distinct = sorted({line for line in lines if line})
    if not distinct:
        return {}, {}
    special, *counts = count_tokens(["", *distinct])
    result: dict[str, str] = {}
    costs = {"": special}
    pending = dict(zip(distinct, distinct, strict=True))  # original line -> its current cut
    for _ in range(8):  # each round cuts a line to at most 90% of its length: a few rounds suffice
        cut: dict[str, str] = {}
        for (original, current), count in zip(pending.items(), counts, strict=True):
            tokens = count - special
            if tokens <= max_tokens:
                result[original], costs[current] = current, tokens
            else:
                cut[original] = _cut(current, max(1, int(len(current) * min(0.9, 0.9 * max_tokens / tokens))))
        pending = cut
        if not pending:
            return result, costs
        counts = count_tokens(list(pending.values()))
    for original, current in pending.items():  # never reached in practice: a token is at least one character
        result[original], costs[current[:max_tokens]] = current[:max_tokens], max_tokens
    return result, costs
