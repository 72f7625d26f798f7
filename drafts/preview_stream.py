"""Stored JSON read a piece at a time, for the chunk preview's cache (drafts.preview_cache).

Both kinds of file are gzip in the encrypted storage, decrypted one 1 MiB segment at a time: the cached chunks
(one JSON object a line, so a page is read by skipping lines, never by loading them all) and the parsed elements
(kb.pipeline.elements), of which only the first table's first rows are read when a huge table is previewed.
Loading the elements of a CSV of 1,000,000 rows whole takes seconds (gunzip and json.loads of 30 MB); its
first 10,000 rows take a fraction of that.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterable, Iterator

# ijson's read size: a table's text rendering (one JSON string of many MB) comes before its rows, and yajl
# scans a string that spans reads again from its start on every read, so small reads make it quadratic.
_READ = 4 * 1024 * 1024
_ROWS_READ = 64 * 1024


class GunzipReader:
    """A binary file over the decompressed plaintext of a stored gzip file, read on demand."""

    def __init__(self, name: str):
        from privexbot.storage import get_storage

        self._segments = get_storage().iter_plaintext(name)
        self._inflate = zlib.decompressobj(wbits=31)
        self._ended = False

    def read(self, size: int = -1) -> bytes:
        if size == 0:  # ijson probes bytes-or-text with read(0); decompress(data, 0) would mean "no limit"
            return b""
        limit = max(size, 0)
        while not self._ended:
            if self._inflate.unconsumed_tail:
                out = self._inflate.decompress(self._inflate.unconsumed_tail, limit)
            else:
                segment = next(self._segments, None)
                if segment is None:
                    self._ended = True
                    return self._inflate.flush()
                out = self._inflate.decompress(segment, limit)
            if out:
                return out
        return b""

    def close(self) -> None:
        self._segments.close()  # closes the stored file the generator holds open


def chunks_save(rows: Iterable[dict]) -> str:
    """Store rows (JSON objects) one a line, gzip, encrypted by the storage; returns the stored name."""
    from privexbot.storage import get_storage

    lines = "".join(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n" for row in rows)
    return get_storage().save(gzip.compress(lines.encode(), compresslevel=3))


def chunks_read(name: str, start: int, stop: int | None) -> list[dict]:
    """Rows start..stop (exclusive; None: to the end) of a file chunks_save wrote, reading no further."""
    out: list[dict] = []
    if stop is not None and stop <= start:
        return out
    reader = GunzipReader(name)
    try:
        for index, line in enumerate(_lines(reader)):
            if stop is not None and index >= stop:
                break
            if index >= start:
                out.append(json.loads(line))
    finally:
        reader.close()
    return out


def _lines(reader: GunzipReader) -> Iterator[bytes]:
    rest = b""
    while data := reader.read(1024 * 1024):
        lines = (rest + data).split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


class _LeadingText:
    """The stream of a stored elements file with the first element's "text" read by the json module, for ijson.

    A table's text rendering (many MB, one JSON string with an escape a row) costs yajl seconds to decode and
    the json module milliseconds; ijson then reads the rest, the text replaced by an empty string."""

    HEAD = b'[{"text": "'  # how kb.pipeline.elements (json.dumps, default separators) starts a file

    def __init__(self, reader: GunzipReader):
        self.text: str | None = None
        self._reader = reader
        self._pending, self._offset = b"", 0
        data = b""
        while len(data) < len(self.HEAD) and (more := reader.read(_READ)):
            data += more
        if not data.startswith(self.HEAD):
            self._pending = data
            return
        end, search = None, len(self.HEAD)
        while end is None:
            quote = data.find(b'"', search)
            if quote == -1:
                search = len(data)
                more = reader.read(_READ)
                if not more:
                    raise ValueError("the first element's text never ends")
                data += more
                continue
            before = quote - 1  # stops at the opening quote at the latest
            while data[before] == 0x5C:  # backslash
                before -= 1
            if (quote - 1 - before) % 2 == 0:  # an escaped quote is preceded by an odd number of backslashes
                end = quote
            search = quote + 1
        self.text = json.loads(data[len(self.HEAD) - 1 : end + 1])
        self._pending = self.HEAD + data[end:]

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""
        if self._offset < len(self._pending):  # in reads of the asked size: ijson makes events of all it is given
            stop = len(self._pending) if size < 0 else self._offset + size
            out, self._offset = self._pending[self._offset : stop], stop
            return out
        return self._reader.read(size)


class TableStream:
    """The first element of a stored elements file, when it is a table, with as many of its rows as asked.

    `ok` is false when the file does not start with a table element in the shape kb.pipeline.parse_common makes
    (then nothing can be previewed from a prefix). Once the rows have all been read (`done`), `single` says
    whether that table was the file's only element.
    """

    def __init__(self, elements_file: str):
        import ijson

        self._reader = GunzipReader(elements_file)
        leading = _LeadingText(self._reader)
        # Small reads once the text is out of the way: ijson decodes a whole read into events up front.
        buf_size = _ROWS_READ if leading.text is not None else _READ
        self._events = iter(ijson.basic_parse(leading, buf_size=buf_size, use_float=True))
        self._element: dict = {}
        self._text = leading.text
        self._table: dict = {}
        self.rows: list[list] = []
        self.done = False
        self.single: bool | None = None
        self.ok = self._open()

    def close(self) -> None:
        self._reader.close()

    def element(self) -> dict:
        """The table element with the rows read so far."""
        return {**self._element, "table": {**self._table, "rows": self.rows}}

    def fill(self, rows: int) -> None:
        while not self.done and len(self.rows) < rows:
            event, value = next(self._events)
            if event == "end_array":
                self._finish()
            elif event == "start_array":
                self.rows.append(self._value(event, value))
            else:
                raise ValueError(f"a table row is not a list ({event})")

    # -- the structure up to the rows
    def _open(self) -> bool:
        try:
            if next(self._events)[0] != "start_array" or next(self._events)[0] != "start_map":
                return False
            while True:
                event, key = next(self._events)
                if event != "map_key":
                    return False
                if key == "table":
                    break
                self._element[key] = self._value(*next(self._events))
            if self._text is not None:
                self._element["text"] = self._text
            if next(self._events)[0] != "start_map":
                return False
            while True:
                event, key = next(self._events)
                if event != "map_key":
                    return False
                if key == "rows":
                    return next(self._events)[0] == "start_array" and self._element.get("type") == "Table"
                self._table[key] = self._value(*next(self._events))
        except (StopIteration, ValueError):
            return False

    def _finish(self) -> None:
        """After the rows: the rest of the table and of the element, then whether another element follows."""
        self.done = True
        for target in (self._table, self._element):
            while (event := next(self._events))[0] == "map_key":
                target[event[1]] = self._value(*next(self._events))
        self.single = next(self._events)[0] == "end_array"

    def _value(self, event: str, value):
        """One whole JSON value starting with (event, value)."""
        import ijson

        if event not in ("start_map", "start_array"):
            return value
        builder = ijson.ObjectBuilder()
        builder.event(event, value)
        depth = 1
        while depth:
            event, value = next(self._events)
            depth += event in ("start_map", "start_array")
            depth -= event in ("end_map", "end_array")
            builder.event(event, value)
        return builder.value
