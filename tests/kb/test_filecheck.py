"""check_file on real corpus files and on hostile archives built in tmp_path. No Django."""

import shutil
import zipfile
from pathlib import Path

import pytest

from kb.pipeline import filecheck
from kb.pipeline.filecheck import check_file, detect_text_encoding
from kb.pipeline.types import PipelineError

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
ALL_TYPES = ["pdf", "docx", "txt", "md", "csv", "xlsx", "html"]
MB = 1024 * 1024


def check(path: Path, filename: str | None = None, allowed=ALL_TYPES, max_size=15 * MB) -> str:
    return check_file(filename=filename or path.name, path=str(path), allowed_types=allowed, max_size=max_size)


def error_of(path: Path, filename: str | None = None, **kwargs) -> PipelineError:
    with pytest.raises(PipelineError) as info:
        check(path, filename, **kwargs)
    return info.value


@pytest.mark.parametrize(
    "relpath, expected",
    [
        ("pdf/exam-n.pdf", "pdf"),
        ("pdf/broken/issue-297.pdf", "pdf"),
        ("pdf/broken/selenium-pypdf-issue-177.pdf", "pdf"),
        ("docx/blk-paras-and-tables.docx", "docx"),
        ("xlsx/ne_1033_data.xlsx", "xlsx"),
        ("csv/FY09_EDU_Recipients_by_State.csv", "csv"),
        ("md/nodejs-path.md", "md"),
        ("txt/memory-barriers.ko_KR.txt", "txt"),
        ("html/trafilatura-utf8.html", "html"),
        ("site/index.html", "html"),
    ],
)
def test_real_files_get_their_type(relpath, expected):
    assert check(CORPUS / relpath) == expected


def test_extension_aliases_and_case():
    assert check(CORPUS / "html/exam-n.html", "Page.HTM") == "html"
    assert check(CORPUS / "md/gnutls-README.md", "README.markdown") == "md"


def test_too_large_names_both_sizes():
    err = error_of(CORPUS / "pdf/cleveref.pdf", max_size=100 * 1024)
    assert err.code == "too_large"
    assert "433.3 KB" in err.message and "100.0 KB" in err.message


def test_unsupported_type_lists_allowed_types():
    err = error_of(CORPUS / "xlsx/csvkit-sheets.xls", allowed=["pdf", "docx"])
    assert err.code == "unsupported_type"
    assert ".xls" in err.message and "docx, pdf" in err.message
    # A known type that this deployment does not allow is refused as well.
    assert error_of(CORPUS / "csv/iris.csv", allowed=["pdf"]).code == "unsupported_type"


def test_empty_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    assert error_of(path).code == "empty"


@pytest.mark.parametrize(
    "source, name",
    [
        ("docx/test.docx", "report.pdf"),  # a zip is not a PDF
        ("pdf/exam-n.pdf", "report.docx"),  # a PDF is not a zip
        ("xlsx/csvkit-test.xlsx", "report.docx"),  # a zip, but a workbook, not a document
        ("docx/test.docx", "sheet.xlsx"),
        ("pdf/exam-n.pdf", "notes.txt"),  # binary content under a text name
        ("docx/test.docx", "page.html"),
        ("xlsx/csvkit-sheets.xls", "data.csv"),
    ],
)
def test_type_mismatch(tmp_path, source, name):
    path = tmp_path / name
    shutil.copy(CORPUS / source, path)
    assert error_of(path).code == "type_mismatch"


def test_text_encodings_are_detected(tmp_path):
    korean = "메모리 배리어에 대한 문서입니다. 한국어 텍스트.\n" * 20
    cases = {
        "utf8.txt": korean.encode("utf-8"),
        "bom.txt": korean.encode("utf-8-sig"),
        "utf16.txt": korean.encode("utf-16"),  # with BOM
        "euckr.txt": korean.encode("euc-kr"),
        "latin.csv": "name,city\nJosé,Zürich\nRené,Besançon\n".encode("latin-1"),
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert check(path) in ("txt", "csv"), name
    assert detect_text_encoding(korean.encode("euc-kr")).lower().replace("_", "-") in ("euc-kr", "cp949")


def test_binary_noise_is_not_text(tmp_path):
    path = tmp_path / "noise.txt"
    path.write_bytes(bytes(range(1, 32)) * 200)  # control characters, no NUL
    assert error_of(path).code == "type_mismatch"


# --- zip-based formats ------------------------------------------------------------------------


def make_docx(path: Path, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<w:document/>")
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def test_minimal_valid_docx_passes(tmp_path):
    assert check(make_docx(tmp_path / "ok.docx")) == "docx"


def test_compression_ratio_bomb(tmp_path):
    path = make_docx(tmp_path / "bomb.docx", {"word/media/zeros.bin": b"\0" * (5 * MB)})
    err = error_of(path)
    assert err.code == "zip_bomb"


def test_too_many_entries(tmp_path):
    extra = {f"word/media/{i}.xml": b"x" for i in range(filecheck.ZIP_MAX_ENTRIES + 1)}
    assert error_of(make_docx(tmp_path / "many.docx", extra)).code == "zip_bomb"


def test_total_and_entry_size_limits(tmp_path, monkeypatch):
    # Random-ish data does not compress, so only the size limits can trip here.
    blob = bytes((i * 7919) % 251 for i in range(300_000))
    path = make_docx(tmp_path / "big.docx", {"word/media/a.bin": blob, "word/media/b.bin": blob})
    assert check(path) == "docx"
    monkeypatch.setattr(filecheck, "ZIP_MAX_TOTAL_SIZE", 500_000)
    assert error_of(path).code == "zip_bomb"
    monkeypatch.setattr(filecheck, "ZIP_MAX_TOTAL_SIZE", 10 * MB)
    monkeypatch.setattr(filecheck, "ZIP_MAX_ENTRY_SIZE", 200_000)
    assert error_of(path).code == "zip_bomb"


def test_lying_central_directory_is_caught_while_streaming(tmp_path, monkeypatch):
    """Declared sizes can be forged; the streamed check counts real bytes."""
    path = make_docx(tmp_path / "liar.docx", {"word/media/a.bin": bytes(range(256)) * 2000})
    monkeypatch.setattr(filecheck, "_check_zip_listing", lambda infos, size: None)  # trust nothing declared
    monkeypatch.setattr(filecheck, "ZIP_MAX_ENTRY_SIZE", 100_000)
    assert error_of(path).code == "zip_bomb"


@pytest.mark.parametrize("evil", ["../../etc/passwd", "/abs/path.xml", "word\\..\\evil.xml", "word/../../x.xml"])
def test_path_tricks(tmp_path, evil):
    path = make_docx(tmp_path / "evil.docx", {evil: b"x"})
    assert error_of(path).code == "unsafe_archive"


def test_truncated_zip_is_corrupt(tmp_path):
    data = (CORPUS / "docx/blk-paras-and-tables.docx").read_bytes()
    path = tmp_path / "cut.docx"
    path.write_bytes(data[: len(data) // 2])
    assert error_of(path).code == "corrupt"


def test_corrupt_entry_data(tmp_path):
    path = make_docx(tmp_path / "crc.docx", {"word/styles.xml": b"<styles>" + b"a" * 5000 + b"</styles>"})
    data = bytearray(path.read_bytes())
    start = data.index(b"word/styles.xml") + len("word/styles.xml")
    data[start + 10 : start + 20] = b"\xff" * 10  # damage the compressed stream
    path.write_bytes(bytes(data))
    assert error_of(path).code == "corrupt"
