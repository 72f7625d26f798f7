"""Parsing real corpus files into Elements, in-process and in a limited child process. No Django."""

import re
from pathlib import Path

import pytest

from kb.pipeline.parse import html_title, parse_file, parse_html_string, parse_in_subprocess
from kb.pipeline.types import PipelineError

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
BROKEN = CORPUS / "pdf" / "broken"


def parse(relpath: str, filetype: str | None = None):
    path = CORPUS / relpath
    return parse_file(path=str(path), filetype=filetype or path.suffix.lstrip("."))


def parse_error(relpath: str, filetype: str | None = None) -> PipelineError:
    with pytest.raises(PipelineError) as info:
        parse(relpath, filetype)
    return info.value


def texts(elements) -> str:
    return "\n".join(e["text"] for e in elements)


def assert_well_formed(elements):
    assert elements
    for e in elements:
        assert e["text"].strip(), e
        assert isinstance(e["heading_path"], list)
        assert e["page"] is None or e["page"] >= 1
        if e["type"] == "Title":
            assert e["level"] >= 1
        if e["type"] == "Table":
            assert isinstance(e["table"]["rows"], list)


# --- PDF ----------------------------------------------------------------------------------------


def test_pdf_text_pages_and_outline_headings():
    elements = parse("pdf/exam-n.pdf")
    assert_well_formed(elements)
    assert {e["page"] for e in elements} == set(range(1, 18))
    # Headings come from the PDF's bookmarks, with their depth.
    titles = {e["text"]: e for e in elements if e["type"] == "Title"}
    assert titles["1.1 Class options"]["level"] == 2
    options = next(e for e in elements if e["text"].startswith("The class takes the following options"))
    assert options["heading_path"] == ["1 Description", "1.1 Class options"]
    # Bare page numbers are furniture, not content.
    assert not [e for e in elements if re.fullmatch(r"\d+", e["text"])]


BROKEN_EXPECTED = {
    "encrypted-file.pdf": "encrypted",
    "libreoffice-writer-password.pdf": "encrypted",
    "crazyones-encrypted-256.pdf": "encrypted",
    "378014596.pdf": "corrupt",  # fuzzed, no trailer: nothing can read it
    "jbig2.pdf": "no_text",  # image-only scans
    "francais.pdf": "no_text",
    "issue-301.pdf": "no_text",
    "cyclic-toc.pdf": "no_text",
    "encrypted_doc_no_id.pdf": "no_text",  # empty user password, content is a fax scan
    "issue-297.pdf": "test example",  # broken xref, rebuilt
    "selenium-pypdf-issue-177.pdf": "Hello World",  # trailing NULs
    "content-stream-errors.pdf": "Potato",
    "toy.pdf": "Something",
    "outlines-with-invalid-destinations.pdf": "Contents",
    "Seige_of_Vicksburg_Sample_OCR.pdf": "SIEGE OF VICKSBURG",
}


def test_every_broken_pdf_is_listed():
    assert {p.name for p in BROKEN.iterdir()} == set(BROKEN_EXPECTED)


@pytest.mark.parametrize("name, expected", sorted(BROKEN_EXPECTED.items()))
def test_broken_pdfs(name, expected):
    path = BROKEN / name
    if expected in ("encrypted", "corrupt", "no_text"):
        with pytest.raises(PipelineError) as info:
            parse_file(path=str(path), filetype="pdf")
        assert info.value.code == expected
        assert "Traceback" not in info.value.message
        if expected == "encrypted":
            assert info.value.message == "This PDF is password-protected; remove the password and upload it again."
        if expected == "no_text":
            assert "run OCR" in info.value.message
    else:
        elements = parse_file(path=str(path), filetype="pdf")
        assert_well_formed(elements)
        assert expected in texts(elements)


def test_unexpected_parser_failure_becomes_short_corrupt_message(tmp_path):
    path = tmp_path / "fake.xlsx"
    path.write_bytes(b"PK\x03\x04 definitely not a workbook")
    with pytest.raises(PipelineError) as info:
        parse_file(path=str(path), filetype="xlsx")
    assert info.value.code == "corrupt"
    assert info.value.message.startswith("Could not read this XLSX file: ")
    assert "\n" not in info.value.message and len(info.value.message) < 260


# --- DOCX / MD / TXT ------------------------------------------------------------------------------


def test_docx_tables_headings_and_no_headers_footers():
    elements = parse("docx/blk-paras-and-tables.docx")
    assert_well_formed(elements)
    assert "Lorem ipsum dolor sit amet" in texts(elements)
    assert "Left-side" not in texts(elements) and "Copyright" not in texts(elements)  # header/footer parts

    tables = [e for e in parse("docx/tbl-having-applied-style.docx") if e["type"] == "Table"]
    assert len(tables) == 3
    assert tables[0]["table"]["header"] == ["foobar", "barfoo"]
    assert ["foo", "bar"] in tables[0]["table"]["rows"]

    styled = parse("docx/par-known-styles.docx")
    heading = next(e for e in styled if e["type"] == "Title")
    assert (heading["text"], heading["level"]) == ("Heading 1", 1)


def test_image_only_docx_is_no_text():
    assert parse_error("docx/having-images.docx").code == "no_text"


def test_markdown_headings_lists_code_tables():
    elements = parse("md/nodejs-path.md")
    assert_well_formed(elements)
    titles = [e for e in elements if e["type"] == "Title"]
    assert titles[0]["text"] == "Path" and titles[0]["level"] == 1
    basename = next(e for e in titles if e["text"].startswith("path.basename("))
    assert basename["heading_path"] == ["Path"] and basename["level"] == 2
    assert any(e["type"] == "CodeSnippet" and "require('node:path')" in e["text"] for e in elements)

    tables = [e for e in parse("md/pdfplumber-README.md") if e["type"] == "Table"]
    assert len(tables) == 17
    assert all(t["table"]["header"] and t["table"]["rows"] for t in tables)


def test_markdown_front_matter_is_not_content():
    elements = parse("md/systemd-CODING_STYLE.md")
    assert not elements[0]["text"].startswith("title:")


def test_txt_korean_utf8():
    elements = parse("txt/memory-barriers.ko_KR.txt")
    assert_well_formed(elements)
    assert "메모리 배리어" in texts(elements)


def test_txt_legacy_encoding_is_decoded(tmp_path):
    original = (CORPUS / "txt/memory-barriers.ko_KR.txt").read_text("utf-8")[:6000]
    path = tmp_path / "euckr.txt"
    path.write_bytes(original.encode("euc-kr", errors="ignore"))
    assert "메모리 배리어" in texts(parse_file(path=str(path), filetype="txt"))


# --- CSV / XLSX -----------------------------------------------------------------------------------


def test_csv_large_table_is_one_faithful_table():
    [table] = parse("csv/ks_1033_data.csv")
    assert table["type"] == "Table" and table["page"] is None
    assert table["table"]["header"][:3] == ["state", "county", "fips"]
    assert len(table["table"]["header"]) == 14
    assert len(table["table"]["rows"]) == 1575
    assert all(len(row) == 14 for row in table["table"]["rows"])
    assert table["text"].count("\n") == 1575  # header line + one line per row


def test_csv_crlf():
    [table] = parse("csv/FY09_EDU_Recipients_by_State.csv")
    # 53 lines after the header, the last one empty; every line also ends in an empty column.
    assert len(table["table"]["rows"]) == 52
    assert table["table"]["header"][-1] == "TOTAL"
    assert table["table"]["rows"][-1][:2] == ["PUERTO RICO", "PR"]
    assert not any("\r" in cell for row in table["table"]["rows"] for cell in row)


def test_xlsx_one_table_per_sheet():
    tables = parse("xlsx/csvkit-sheets.xlsx")  # sheet 1 ("not this one") is empty
    assert [t["type"] for t in tables] == ["Table", "Table"]
    assert [t["page"] for t in tables] == [2, 3]
    assert [t["heading_path"] for t in tables] == [["data"], ["ʤ"]]
    assert tables[1]["table"] == {"header": ["a", "b", "c"], "rows": [["1", "2", "3"]]}
    assert tables[0]["table"]["header"][:3] == ["text", "date", "integer"]
    [big] = parse("xlsx/ne_1033_data.xlsx")
    assert len(big["table"]["rows"]) > 1000


# --- HTML ---------------------------------------------------------------------------------------


def test_sphinx_page_keeps_content_and_drops_chrome():
    path = CORPUS / "site/topics/db/models.html"
    elements = parse_file(path=str(path), filetype="html")
    assert_well_formed(elements)
    body = texts(elements)
    assert "¶" not in body
    assert "Browse" not in body and "Django 3.2.25 documentation" not in body  # related bar, sidebar
    first = elements[0]
    assert (first["type"], first["text"], first["level"]) == ("Title", "Models", 1)
    field_types = next(e for e in elements if e["type"] == "Title" and e["text"] == "Field types")
    assert field_types["heading_path"] == ["Models", "Fields"] and field_types["level"] == 3
    assert any(e["type"] == "CodeSnippet" and "class Person(models.Model)" in e["text"] for e in elements)
    assert html_title(path.read_text()) == "Models — Django 3.2.25 documentation"


def test_html_tables():
    tables = [e for e in parse("html/linux-l2tp.html") if e["type"] == "Table"]
    assert len(tables) == 11
    assert all(t["table"]["rows"] for t in tables)


def test_parse_html_string_prefers_main_and_drops_boilerplate():
    html = """<html><head><title>T &amp; C</title><style>.x{}</style></head><body>
      <nav><a href="/">Home</a></nav><header><h1>Site name</h1></header>
      <main><h1>Guide<a class="headerlink" href="#g">¶</a></h1>
        <p>Intro <b>bold</b> text.</p><script>var x = 1;</script>
        <h2>Setup</h2><ul><li>One</li><li>Two<ul><li>Nested</li></ul></li></ul>
        <pre>pip install x\n  --flag</pre>
        <table><thead><tr><th>Key</th><th>Value</th></tr></thead><tr><td>a</td><td>1</td></tr></table>
      </main><footer>Copyright</footer></body></html>"""
    elements = parse_html_string(html, base_url="https://example.com/guide")
    got = [(e["type"], e["text"], e["heading_path"]) for e in elements]
    assert got == [
        ("Title", "Guide", []),
        ("NarrativeText", "Intro bold text.", ["Guide"]),
        ("Title", "Setup", ["Guide"]),
        ("ListItem", "One", ["Guide", "Setup"]),
        ("ListItem", "Two", ["Guide", "Setup"]),
        ("ListItem", "Nested", ["Guide", "Setup"]),
        ("CodeSnippet", "pip install x\n  --flag", ["Guide", "Setup"]),
        ("Table", "Key | Value\na | 1", ["Guide", "Setup"]),
    ]
    assert elements[-1]["table"] == {"header": ["Key", "Value"], "rows": [["a", "1"]]}
    assert html_title(html) == "T & C"
    assert parse_html_string("") == []


# --- child process --------------------------------------------------------------------------------


@pytest.fixture
def hooks(settings):
    settings.PARSE_TEST_HOOKS = True


CSV = str(CORPUS / "csv/iris.csv")
MD = str(CORPUS / "md/gnutls-README.md")


def test_memory_hog_fails_alone(hooks):
    """The hook really allocates until RLIMIT_AS stops it; neighbours are unaffected."""
    results = parse_in_subprocess([(MD, "md"), ("-", "_test_allocate"), (CSV, "csv")], memory_mb=700)
    assert isinstance(results[0], list) and results[0][0]["text"]
    assert isinstance(results[1], PipelineError) and results[1].code == "resource_limit"
    assert "memory" in results[1].message
    assert isinstance(results[2], list) and results[2][0]["type"] == "Table"


def test_crashing_child_keeps_done_results_and_retries_the_rest(hooks):
    results = parse_in_subprocess([(CSV, "csv"), ("-", "_test_crash"), (MD, "md"), (CSV, "csv")])
    assert isinstance(results[0], list)
    assert isinstance(results[1], PipelineError) and results[1].code == "resource_limit"
    assert isinstance(results[2], list) and isinstance(results[3], list)


def test_wall_clock_timeout(hooks):
    results = parse_in_subprocess([("-", "_test_sleep"), (CSV, "csv")], timeout=1.5)
    assert isinstance(results[0], PipelineError) and results[0].code == "timeout"
    assert isinstance(results[1], list)


def test_cpu_limit_is_per_item(hooks):
    results = parse_in_subprocess([(CSV, "csv"), ("-", "_test_spin"), (CSV, "csv")], cpu_seconds=1)
    assert isinstance(results[0], list) and isinstance(results[2], list)
    assert isinstance(results[1], PipelineError) and results[1].code == "resource_limit"
    assert "CPU" in results[1].message


def test_test_hooks_are_off_by_default():
    [result] = parse_in_subprocess([("-", "_test_crash")])
    assert isinstance(result, PipelineError) and result.code == "unsupported_type"


def test_real_pdfs_in_child():
    results = parse_in_subprocess(
        [(str(BROKEN / "encrypted-file.pdf"), "pdf"), (str(BROKEN / "issue-297.pdf"), "pdf"), (MD, "md")]
    )
    assert isinstance(results[0], PipelineError) and results[0].code == "encrypted"
    assert "test example" in texts(results[1])
    assert isinstance(results[2], list)
