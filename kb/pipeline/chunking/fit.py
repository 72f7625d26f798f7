"""The fit step: every chunk, context line included, within the model's window (and the token size, if any).

The structural strategies split on characters; a chunk whose embedded text (context line + newline + content)
has more tokens than the model reads would lose its tail, so it is cut further here, with the same separators,
until every piece fits. Only the pieces that are still too long are cut again, and each cut leaves pieces of at
most 90% of their parent's body, so the characters counted over all rounds are a small multiple of the
document's: linear work. (Re-chunking a whole table for each too-long piece of it was exponential, and hung the
preview on a 16,384-column sheet.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from ..types import embedding_text
from .joined import Candidate, JoinedText
from .splitter import split_text

MAX_ROUNDS = 60  # 0.9 ** 60 < 0.2%: far more than any text needs; a guard, not a budget
SAFETY = 0.9  # aim a little under the limit: token density varies inside a piece
MIN_BODY = 16  # characters: below this a repeated head is dropped rather than cut around


@dataclass
class Fitted:
    candidate: Candidate
    context: str
    token_count: int  # of the embedded text
    limit: int


def fit_candidates(
    doc: JoinedText,
    candidates: Sequence[Candidate],
    contexts: Sequence[str],
    *,
    count_tokens: Callable[[list[str]], list[int]],
    costs: dict[str, int],
    window: int,
    content_tokens: int | None,
    separators: list[str],
    overlap: int,
) -> list[Fitted]:
    """`candidates` (with their context lines) cut until each embedded text has at most `window` tokens and, when
    `content_tokens` is given, its content at most that many (context and special tokens not counted). `costs`:
    the tokens each context line adds and "" -> the special tokens (context.capped_context_lines); computed here
    when empty and needed."""
    texts = [embedding_text(context, c.content) for c, context in zip(candidates, contexts, strict=True)]
    counts = list(count_tokens(texts))
    if len(counts) != len(candidates):
        raise ValueError(f"count_tokens: returned {len(counts)} counts for {len(candidates)} texts")
    if "" not in costs and (content_tokens is not None or max(counts) > window):
        costs = {"": count_tokens([""])[0]}  # no context lines: only the special tokens are fixed
    special = costs.get("", 0)

    def fixed(context: str) -> int:  # the tokens of an embedded text that are not its content
        return special + (costs.get(context, 0) if context else 0)

    def limit_of(context: str) -> int:
        return window if content_tokens is None else min(window, content_tokens + fixed(context))

    items = [Fitted(c, ctx, int(n), limit_of(ctx)) for c, ctx, n in zip(candidates, contexts, counts, strict=True)]
    for _ in range(MAX_ROUNDS):
        over = [item for item in items if item.token_count > item.limit]
        if not over:
            break
        pieces = {id(item): _cut(doc, item, fixed(item.context), separators, overlap) for item in over}
        new = [piece for item in over for piece in pieces[id(item)]]
        new_counts = count_tokens([embedding_text(p.context, p.candidate.content) for p in new])
        for piece, count in zip(new, new_counts, strict=True):
            piece.token_count = int(count)
        items = [piece for item in items for piece in pieces.get(id(item), [item])]
    return items


def _cut(doc: JoinedText, item: Fitted, fixed: int, separators: list[str], overlap: int) -> list[Fitted]:
    """The item's content in pieces whose estimated tokens fit its limit; `fixed` = context + special tokens."""
    candidate = item.candidate
    content = candidate.content
    head = candidate.head if content.startswith(candidate.head) else ""
    # Tokens are estimated from the piece's own density; the real count decides in the next round.
    density = max(item.token_count - fixed, 1) / max(len(content), 1)
    head_tokens = math.ceil(len(head) * density)
    available = item.limit - fixed - head_tokens
    if head and (available < (item.limit - fixed) / 2 or len(content) - len(head) < MIN_BODY):
        head, available = "", item.limit - fixed  # a head that leaves too little room is not repeated
    body = content[len(head) :]
    body_tokens = max(1, item.token_count - fixed - head_tokens if head else item.token_count - fixed)
    if available < 1:
        available = 1
    parts = max(2, math.ceil(body_tokens / (available * SAFETY)))
    # Balanced pieces (no tiny tail), each at most 90% of the body so every round makes progress.
    budget = max(1, min(int(len(body) * SAFETY * available / body_tokens), math.ceil(len(body) / parts * 1.15)))
    budget = min(budget, max(1, int(len(body) * SAFETY)))
    # A slice of the document keeps exact offsets. (Compared in place: a piece of a wide table spans the whole
    # table, and copying that span for each piece would make fitting quadratic.)
    if candidate.end - candidate.start == len(body) and doc.text.startswith(body, candidate.start):
        spans = split_text(doc.text, budget, min(overlap, budget // 5), separators, candidate.start, candidate.end)
        made = [
            replace(candidate, content=head + doc.text[s:e], start=s, end=e, elements=doc.covered(s, e), head=head)
            for s, e in spans
        ]
    else:  # a table's rows or a rendering: cut its own text, rows first; offsets stay the element's
        spans = split_text(body, budget, 0, ["\n", *separators])
        made = [replace(candidate, content=head + body[s:e], extra=dict(candidate.extra), head=head) for s, e in spans]
    return [Fitted(piece, item.context, 0, item.limit) for piece in made]
