"""How much CPU one file may use while it is parsed: a budget that grows with the file, up to a ceiling.

One fixed limit is wrong both ways: 300 s stopped a legitimate 2,400-page manual, while a 9 KB one-page PDF
built to be slow held a parse slot for all of it. The budget is base + per page + per MB, where the pages
counted are capped by the bytes (a real text page takes about 4 KB in the project's PDFs, never under 1 KB),
so a small file that claims thousands of pages still gets a small budget. Pure Python: the parse child
computes it (it is the process that may open a hostile file); pikepdf counts a PDF's pages.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import asdict, dataclass

MIN_BYTES_PER_PAGE = 1024
ZIP_TYPES = frozenset({"docx", "xlsx"})


@dataclass(frozen=True)
class ParseBudget:
    base_seconds: float = 30.0
    per_page_seconds: float = 0.5
    per_mb_seconds: float = 20.0
    ceiling_seconds: float = 1800.0

    def as_dict(self) -> dict:
        return asdict(self)

    def cpu_seconds(self, *, size_bytes: int, pages: int | None) -> int:
        """The CPU budget of a file of `size_bytes` (the expanded size for zip formats) and `pages`."""
        counted_pages = min(pages or 0, size_bytes // MIN_BYTES_PER_PAGE)
        seconds = self.base_seconds + self.per_page_seconds * counted_pages + self.per_mb_seconds * size_bytes / 2**20
        return int(min(self.ceiling_seconds, max(self.base_seconds, seconds)))

    def wall_seconds(self, cpu_seconds: int, ceiling: float) -> float:
        """Wall-clock limit for a CPU budget: room for I/O and a busy machine, never beyond `ceiling`."""
        return min(ceiling, 2 * cpu_seconds + 30)


def measured_size(path: str, filetype: str) -> int:
    """Bytes that predict the work: a DOCX/XLSX's expanded size (from its central directory; upload checks
    already refused bombs), otherwise the file's size."""
    size = os.path.getsize(path)
    if filetype in ZIP_TYPES:
        try:
            with zipfile.ZipFile(path) as zf:
                return max(size, sum(info.file_size for info in zf.infolist()))
        except (zipfile.BadZipFile, OSError, ValueError):
            return size
    return size


def pdf_pages(path: str) -> int | None:
    """A PDF's page count, or None when it cannot be opened (the parser then reports why)."""
    try:
        import pikepdf

        with pikepdf.open(path) as pdf:
            return len(pdf.pages)
    except Exception:  # noqa: BLE001 - any damage just means no page count
        return None


def file_budget(path: str, filetype: str, budget: ParseBudget) -> int:
    pages = pdf_pages(path) if filetype == "pdf" else None
    return budget.cpu_seconds(size_bytes=measured_size(path, filetype), pages=pages)
