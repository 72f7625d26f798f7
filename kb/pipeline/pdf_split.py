"""A long PDF parsed in page ranges: less memory on huge files, and progress (pages done / pages total).

unstructured keeps every element of a file (text, coordinates, metadata objects) until the partition returns, so
one call on an 8,000-page PDF holds all of them at once in the parse child and says nothing until the end. Here the
PDF is cut with pikepdf into parts of `part_pages` pages, written to the child's private TMPDIR
(privexbot.sandbox), and each part is partitioned alone: pdfminer reads every page on its own, so a part's elements
are the whole file's elements of those pages, in the same order, with page numbers shifted by the part's first
page (tests/kb/test_parse_progress.py compares both, element by element, on gnuplot.pdf). The parse child sends
each part's normalised elements to its parent as soon as they are made (kb.pipeline.parse_child), so it never
holds them all."""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable, Iterator

# Pages per part when Django is not configured (workers use settings.PARSE_PDF_PAGES_PER_PART): a progress step
# every few seconds at the ~13 pages/s of the corpus PDFs, few enough parts that cutting them costs little.
DEFAULT_PART_PAGES = 50
REOPEN_AFTER_PAGES = 500


def page_ranges(total: int, part_pages: int) -> list[tuple[int, int]]:
    """[start, stop) page indexes (0-based) of the parts of a `total`-page file."""
    step = max(1, part_pages)
    return [(start, min(total, start + step)) for start in range(0, total, step)]


def partition_parts(
    path: str, partition: Callable[[str], list], *, part_pages: int
) -> Iterator[tuple[list, int, int, int]]:
    """Yield (raw elements of a part, page offset, pages done, pages total) part by part.

    `partition` is the whole-file partition (one path in, unstructured elements out). Each part is written to
    a private temporary directory and removed as soon as it is partitioned, so at most one part's copy exists.
    """
    import pikepdf

    with tempfile.TemporaryDirectory(prefix="kbpdfpart-") as tmp:
        part_path = os.path.join(tmp, "part.pdf")
        source = pikepdf.open(path)
        try:
            total, copied = len(source.pages), 0
            for start, stop in page_ranges(total, part_pages):
                if copied >= REOPEN_AFTER_PAGES:
                    # qpdf keeps every object it has resolved in the source: on a 131 MB file about 3.5 MB per
                    # 50 pages copied, which over 8,000 pages would fill the child's address space. A fresh
                    # open drops them (about a second on that file).
                    source.close()
                    source, copied = pikepdf.open(path), 0
                _write_part(source, start, stop, part_path)
                copied += stop - start
                try:
                    raw = partition(part_path)
                finally:
                    os.unlink(part_path)
                yield raw, start, stop, total
        finally:
            source.close()


def _write_part(source, start: int, stop: int, target: str) -> None:
    import pikepdf

    with pikepdf.new() as part, warnings.catch_warnings():
        # Pages copied from another file carry their resources; attributes a page inherits from its page tree
        # (Resources, MediaBox, Rotate) are pushed onto the page by qpdf when it is copied. The warning is about
        # viewers (named destinations, form fields), not the text a part gives.
        warnings.simplefilter("ignore", pikepdf.PageCopyWarning)
        part.pages.extend(source.pages[start:stop])
        part.save(target)
