"""Step 0 of the pipeline: decide whether an uploaded file may be parsed at all.

Pure Python, no Django: checks size, extension, magic bytes and - for zip-based Office
formats - the archive itself (bombs, path tricks) before any parser touches the bytes.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from typing import BinaryIO

from kb.pipeline.types import PipelineError

# Extension -> normalised type. Types are what callers put in allowed_types.
EXTENSION_TYPES = {
    "pdf": "pdf",
    "docx": "docx",
    "txt": "txt",
    "text": "txt",
    "md": "md",
    "markdown": "md",
    "csv": "csv",
    "xlsx": "xlsx",
    "html": "html",
    "htm": "html",
}
TEXT_TYPES = frozenset({"txt", "md", "csv", "html"})

# Zip limits. A real 15 MB DOCX/XLSX expands to well under 200 MB; XML compresses ~10-30x, so a
# ratio above 100 on a sizeable entry is a bomb rather than a spreadsheet.
ZIP_MAX_ENTRIES = 10_000
ZIP_MAX_ENTRY_SIZE = 200 * 1024 * 1024
ZIP_MAX_TOTAL_SIZE = 500 * 1024 * 1024
ZIP_MAX_RATIO = 100
ZIP_RATIO_MIN_SIZE = 1024 * 1024  # tiny entries may compress absurdly well and are harmless
_ZIP_READ_CHUNK = 1024 * 1024

# Required parts that identify each zip-based format.
_ZIP_REQUIRED = {
    "docx": ("[Content_Types].xml", "word/document.xml"),
    "xlsx": ("[Content_Types].xml", "xl/workbook.xml"),
}

# Control characters that never appear in real text (everything below 0x20 except \t \n \v \f \r, ESC).
_BAD_CONTROL = frozenset(range(0x20)) - {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1B}
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


def check_file(
    *, filename: str, allowed_types: list[str], max_size: int, path: str | None = None, fileobj: BinaryIO | None = None
) -> str:
    """Return the normalised file type of an upload, or raise PipelineError saying why not. The bytes are a
    `path` or a seekable binary `fileobj` (an upload read back from memory or an encrypted spool: no plaintext
    copy on disk is needed to check it)."""
    if (path is None) == (fileobj is None):
        raise TypeError("check_file takes a path or a fileobj")
    if fileobj is None:
        with open(path, "rb") as fh:
            return check_file(filename=filename, allowed_types=allowed_types, max_size=max_size, fileobj=fh)
    filetype = _type_from_name(filename, allowed_types)
    size = fileobj.seek(0, os.SEEK_END)
    if size > max_size:
        raise PipelineError(
            "too_large",
            f"This file is {_human_size(size)}; the maximum allowed size is {_human_size(max_size)}.",
        )
    if size == 0:
        raise PipelineError("empty", "This file is empty.")
    fileobj.seek(0)
    if filetype == "pdf":
        _check_pdf(fileobj)
    elif filetype in _ZIP_REQUIRED:
        check_zip(fileobj, filetype=filetype)
    else:
        data = fileobj.read()  # at most max_size bytes (checked above)
        if detect_text_encoding(data) is None:
            raise PipelineError(
                "type_mismatch",
                f"This file is named .{_extension(filename)} but is not a text file "
                "(it looks binary or uses an unknown encoding).",
            )
    return filetype


def _extension(filename: str) -> str:
    return os.path.splitext(filename)[1].lstrip(".").lower()


def _type_from_name(filename: str, allowed_types: list[str]) -> str:
    ext = _extension(filename)
    filetype = EXTENSION_TYPES.get(ext)
    if filetype is None or filetype not in allowed_types:
        allowed = ", ".join(sorted(allowed_types)) or "none"
        shown = f".{ext} files are" if ext else "Files without an extension are"
        raise PipelineError("unsupported_type", f"{shown} not supported. Allowed types: {allowed}.")
    return filetype


def _human_size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n} bytes"


def _check_pdf(fileobj: BinaryIO) -> None:
    # The spec allows junk before the header; readers accept it within the first 1 KB.
    head = fileobj.read(1024)
    if b"%PDF-" not in head:
        raise PipelineError("type_mismatch", "This file is named .pdf but is not a PDF document.")


def check_zip(source: str | BinaryIO, *, filetype: str) -> None:
    """Validate a DOCX/XLSX container (a path or a seekable file): real zip, right parts, safe names, no bomb."""
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fh:
            return check_zip(fh, filetype=filetype)
    label = filetype.upper()
    source.seek(0)
    is_zip = source.read(4) == b"PK\x03\x04"
    if not is_zip:
        raise PipelineError("type_mismatch", f"This file is named .{filetype} but is not a {label} document.")
    archive_size = source.seek(0, os.SEEK_END)
    source.seek(0)
    try:
        with zipfile.ZipFile(source) as zf:
            infos = zf.infolist()
            _check_zip_listing(infos, archive_size)
            names = {info.filename for info in infos}
            if not all(part in names for part in _ZIP_REQUIRED[filetype]):
                raise PipelineError(
                    "type_mismatch",
                    f"This file is named .{filetype} but is not a {label} document "
                    "(it is a zip archive without the expected parts).",
                )
            _check_zip_contents(zf, infos)
    except PipelineError:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        EOFError,
        OSError,
        ValueError,
        NotImplementedError,
    ) as exc:
        raise PipelineError("corrupt", f"This {label} file is damaged and cannot be opened ({exc}).") from exc


def _check_zip_listing(infos: list[zipfile.ZipInfo], archive_size: int) -> None:
    """Cheap checks on the central directory before decompressing anything."""
    if len(infos) > ZIP_MAX_ENTRIES:
        raise PipelineError("zip_bomb", f"This archive has {len(infos)} entries (limit {ZIP_MAX_ENTRIES}).")
    declared_total = 0
    for info in infos:
        check_entry_name(info.filename)
        if info.flag_bits & 0x1:  # zip-level encryption: no Office writer uses it, and reading it raises
            raise PipelineError("encrypted", f"This archive has an encrypted entry ({info.filename!r}).")
        declared_total += info.file_size
        check_entry_size(info.filename, info.file_size, info.compress_size)
    if declared_total > ZIP_MAX_TOTAL_SIZE:
        raise PipelineError(
            "zip_bomb",
            f"This archive expands to {_human_size(declared_total)} (limit {_human_size(ZIP_MAX_TOTAL_SIZE)}).",
        )
    if declared_total > ZIP_RATIO_MIN_SIZE and declared_total > ZIP_MAX_RATIO * archive_size:
        raise PipelineError("zip_bomb", "This archive is compressed suspiciously well (a zip bomb).")


def check_entry_name(name: str) -> None:
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or ".." in parts or (len(name) > 1 and name[1] == ":") or "\x00" in name:
        raise PipelineError("unsafe_archive", f"This archive contains an unsafe file path: {name!r}.")


def check_entry_size(name: str, size: int, compressed: int) -> None:
    if size > ZIP_MAX_ENTRY_SIZE:
        raise PipelineError(
            "zip_bomb",
            f"The archive entry {name!r} expands to {_human_size(size)} (limit {_human_size(ZIP_MAX_ENTRY_SIZE)}).",
        )
    if size > ZIP_RATIO_MIN_SIZE and size > ZIP_MAX_RATIO * max(compressed, 1):
        raise PipelineError("zip_bomb", f"The archive entry {name!r} is compressed suspiciously well (a zip bomb).")


def _check_zip_contents(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> None:
    """Decompress every entry in a stream, because the sizes in the directory can lie."""
    total = 0
    for info in infos:
        if info.is_dir():
            continue
        entry = 0
        with zf.open(info) as fh:
            while chunk := fh.read(_ZIP_READ_CHUNK):
                entry += len(chunk)
                total += len(chunk)
                check_entry_size(info.filename, entry, info.compress_size)
                if total > ZIP_MAX_TOTAL_SIZE:
                    raise PipelineError("zip_bomb", "This archive expands to more data than allowed (a zip bomb).")


def detect_text_encoding(data: bytes) -> str | None:
    """Return a codec that decodes `data` as plausible text, or None when it is binary."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return codec if _decodes(data, codec) else None
    if b"\x00" in data:
        return None  # UTF-16 without a BOM is rare enough to treat as binary
    if _decodes(data, "utf-8"):
        return "utf-8" if _plausible(data.decode("utf-8")) else None
    codec = _guess_legacy_codec(data)
    if codec and _plausible(data.decode(codec, errors="replace")):
        return codec
    return None


def decode_text(data: bytes) -> str:
    """Decode bytes that detect_text_encoding accepted; raise PipelineError otherwise."""
    codec = detect_text_encoding(data)
    if codec is None:
        raise PipelineError("type_mismatch", "This file is not a text file (it looks binary).")
    return data.decode(codec, errors="replace")


def _decodes(data: bytes, codec: str) -> bool:
    try:
        data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _guess_legacy_codec(data: bytes) -> str | None:
    # charset-normalizer (a dependency of requests) recognises e.g. EUC-KR or cp1252; without it,
    # latin-1 is the only decoder that cannot fail, so plausibility decides.
    try:
        from charset_normalizer import from_bytes
    except ImportError:
        return "latin-1"
    best = from_bytes(data[:200_000]).best()
    return best.encoding if best is not None else None


def _plausible(text: str) -> bool:
    if not text:
        return True
    sample = text[:100_000]
    bad = sum(1 for ch in sample if ord(ch) in _BAD_CONTROL or 0x80 <= ord(ch) < 0xA0)
    return bad <= len(sample) * 0.01
