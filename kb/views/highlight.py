"""Matched-term highlighting that cannot inject markup: every piece of the text is escaped on its own and
only our own <mark> tags are added between the escaped pieces."""

from __future__ import annotations

import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_STOPWORDS = "a an and are as at be by can do does for from how i in is it of on or the this to was what when"
STOPWORDS = frozenset(f"{_STOPWORDS} where which who why with you your".split(" "))
SUFFIXES = ("ing", "ies", "es", "ed", "s")


def _stem(word: str) -> str:
    for suffix in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def query_terms(query: str) -> list[str]:
    """Lower-cased word stems of the query, without stop words, longest first."""
    words = {_stem(w) for w in re.findall(r"\w+", (query or "").lower()) if len(w) > 1 and w not in STOPWORDS}
    return sorted(words, key=len, reverse=True)


def highlight(text: str, query: str) -> SafeString:
    terms = query_terms(query)
    if not terms:
        return escape(text)
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(t) for t in terms) + r")\w*", re.IGNORECASE)
    pieces, last = [], 0
    for match in pattern.finditer(text):
        pieces.append(escape(text[last : match.start()]))
        pieces.append("<mark>" + escape(match.group(0)) + "</mark>")
        last = match.end()
    pieces.append(escape(text[last:]))
    return mark_safe("".join(pieces))  # noqa: S308 - built only from escape() output and literal <mark> tags
