"""Plain data shapes shared by the pipeline steps (parse -> chunk -> embed -> store).

Everything here is JSON-serialisable so parsed elements can be cached on a draft source
and chunk previews can be rendered without touching the database.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, TypedDict

from privexbot.errors import ServiceError


class TableData(TypedDict):
    header: list[str]
    rows: list[list[str]]


class Element(TypedDict, total=False):
    """One normalised piece of a parsed document.

    text:          the element's text (for tables: a plain-text rendering of the rows)
    type:          unstructured-style category: Title, NarrativeText, ListItem, Table, Text, ...
    page:          1-based page number, or None when the format has no pages
    heading_path:  titles of the enclosing sections, outermost first (excluding this element)
    level:         heading depth (1 = top) for Title elements, else absent
    table:         for Table elements: the header and the rows, each a list of cell strings
    """

    text: str
    type: str
    page: int | None
    heading_path: list[str]
    level: int
    table: TableData


def embedding_text(context: str, content: str) -> str:
    """What is embedded for a chunk (and what its content_hash and the embedding cache key hash): the context
    line, a newline, the content. Without a context line (older chunks, archives from before it): the content."""
    return f"{context}\n{content}" if context else content


indexed_text = embedding_text  # the keyword index holds the same text (context at weight B, content at D)


@dataclass
class ChunkData:
    index: int
    content: str
    token_count: int  # of embedding_text, in the model's tokenizer, special tokens included
    word_count: int  # of the content
    char_count: int  # of the content
    truncated: bool = False  # embedding_text is longer than the model's max sequence length
    metadata: dict[str, Any] = field(default_factory=dict)
    context: str = ""  # "Title > Section > Subsection": embedded with the content, keyword-indexed at weight B

    @property
    def embedding_text(self) -> str:
        return embedding_text(self.context, self.content)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# PipelineError codes whose HTTP status is not 400 (raised while checking an upload).
HTTP_STATUS = {"too_large": 413, "unsupported_type": 415, "type_mismatch": 415}


class PipelineError(ServiceError):
    """A failure with a reason a user can act on.

    code: short machine-readable reason: "encrypted", "no_text", "corrupt", "too_large",
          "unsupported_type", "type_mismatch", "zip_bomb", "timeout", "resource_limit", ...
    permanent: True when retrying cannot help (the document goes straight to failed).
    The API shows it as {"file": [message]} with the code's status (HTTP_STATUS, else 400).
    """

    def __init__(self, code: str, message: str, *, permanent: bool = True):
        super().__init__(code, message, details={"file": [message]}, http_status=HTTP_STATUS.get(code, 400))
        self.permanent = permanent
