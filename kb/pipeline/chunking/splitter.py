"""Recursive character splitting (LangChain's RecursiveCharacterTextSplitter, re-done on offsets).

It works on (start, end) spans of one string instead of copied substrings, so every chunk is an exact
slice of the source: "all text is covered, in order" becomes checkable, and offsets come for free.

Differences from LangChain worth knowing: separators are literal strings and stay at the END of the
piece they close ("One. " | "Two."), so chunks end on "." rather than start with ". "; leading and
trailing whitespace is trimmed from every chunk (the "" separator means: cut anywhere).
"""

from __future__ import annotations

Span = tuple[int, int]
Separators = tuple[str, ...]


def trim(text: str, start: int, end: int) -> Span:
    """Shrink [start, end) so it neither starts nor ends with whitespace; empty stays (end, end)."""
    piece = text[start:end]
    left = piece.lstrip()
    if not left:
        return end, end
    return start + len(piece) - len(left), end - (len(left) - len(left.rstrip()))


def split_text(
    text: str, budget: int, overlap: int, separators: list[str], start: int = 0, end: int | None = None
) -> list[Span]:
    """Split text[start:end] into trimmed spans of at most `budget` characters.

    Consecutive spans made at the same separator level share up to `overlap` characters (whole pieces
    only, so the overlap starts at a separator boundary). Like LangChain, there is no overlap where the
    splitter had to descend to a finer separator: those pieces are merged among themselves.
    """
    if budget < 1:
        raise ValueError("budget must be positive")
    start, end = trim(text, start, len(text) if end is None else end)
    if start >= end:
        return []
    if end - start <= budget:
        return [(start, end)]
    # An overlap as large as the budget could not move forward; one character less always does.
    return _split(text, start, end, budget, min(overlap, budget - 1), tuple(separators))


def _split(text: str, start: int, end: int, budget: int, overlap: int, separators: Separators) -> list[Span]:
    # The first separator that occurs in this stretch decides the pieces; finer ones are kept for
    # the pieces that are still too long.
    finer: Separators = ()
    for i, separator in enumerate(separators):
        if separator == "":
            break
        if text.find(separator, start, end) != -1:
            finer = separators[i + 1 :]
            break
    else:
        separator = ""
    if separator == "":
        return _hard_split(text, start, end, budget, overlap)

    spans: list[Span] = []
    small: list[Span] = []
    for piece in _pieces(text, start, end, separator):
        if piece[1] - piece[0] <= budget:
            small.append(piece)
            continue
        spans += _merge(small, budget, overlap)
        small = []
        spans += _split(text, piece[0], piece[1], budget, overlap, finer)
    return spans + _merge(small, budget, overlap)


def _pieces(text: str, start: int, end: int, separator: str) -> list[Span]:
    """Cut at every occurrence of `separator`, which stays with the piece before it; drop blank pieces."""
    pieces = []
    position = start
    while position < end:
        found = text.find(separator, position, end)
        stop = end if found == -1 else found + len(separator)
        piece = trim(text, position, stop)
        if piece[0] < piece[1]:
            pieces.append(piece)
        position = stop
    return pieces


def _merge(pieces: list[Span], budget: int, overlap: int) -> list[Span]:
    """Greedily join neighbouring pieces into spans of at most `budget` characters.

    Each new span starts with the trailing pieces of the previous one that fit within `overlap` (and
    still leave room for the next piece), which is how consecutive chunks come to overlap.
    """
    spans: list[Span] = []
    first = 0
    while first < len(pieces):
        last = first
        while last + 1 < len(pieces) and pieces[last + 1][1] - pieces[first][0] <= budget:
            last += 1
        spans.append((pieces[first][0], pieces[last][1]))
        if last == len(pieces) - 1:
            break
        following_end = pieces[last + 1][1]
        nxt = last + 1
        while (
            nxt - 1 > first
            and pieces[last][1] - pieces[nxt - 1][0] <= overlap
            and following_end - pieces[nxt - 1][0] <= budget
        ):
            nxt -= 1
        first = nxt
    return spans


def _hard_split(text: str, start: int, end: int, budget: int, overlap: int) -> list[Span]:
    """Fixed windows of `budget` characters, `overlap` apart: the last resort when no separator applies."""
    spans = []
    position = start
    while True:
        stop = min(position + budget, end)
        window = trim(text, position, stop)
        if window[0] < window[1]:
            spans.append(window)
        if stop >= end:
            return spans
        position = stop - overlap
