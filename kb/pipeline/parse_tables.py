"""CSV and XLSX straight to Table elements (header + rows).

The stdlib csv module and openpyxl are used directly: unstructured's spreadsheet path splits
sheets into guessed sub-tables and round-trips through HTML, while one faithful table per sheet
is what the chunker needs, and this is much faster on 1,500-row files.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

from kb.pipeline.filecheck import decode_text
from kb.pipeline.parse_common import make_table, trim_table
from kb.pipeline.types import Element

_SNIFF_BYTES = 64 * 1024


def parse_csv(path: str) -> list[Element]:
    with open(path, "rb") as fh:
        text = decode_text(fh.read())
    rows = trim_table([[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text), _dialect(text))])
    if not rows:
        return []
    return [make_table(rows[0], rows[1:], page=None, heading_path=[])]


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(text[:_SNIFF_BYTES], delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def parse_xlsx(path: str) -> list[Element]:
    """One Table per non-empty sheet: page = 1-based sheet index, heading_path = [sheet name]."""
    import openpyxl

    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        out: list[Element] = []
        for index, sheet in enumerate(workbook.worksheets, start=1):
            rows = trim_table([[_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)])
            if rows:
                out.append(make_table(rows[0], rows[1:], page=index, heading_path=[sheet.title]))
        return out
    finally:
        workbook.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date().isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value).strip()
