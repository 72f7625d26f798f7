"""Hostile upload cases for the hostile-input suite (tests/api/test_hostile_inputs.py), built at test time.

Each case is (id, filename, bytes-maker, expectation). The bytes come from real corpus documents, changed the way
an attacker would (a bomb entry added to a real DOCX, a real PDF cut in half, a real XLSX given an XXE), or are
crafted by hand where no real file can carry the trick (a PDF whose stream length refers to itself).

Expectations:
- REJECT: the upload door answers 4xx with a reason, and nothing is stored.
- TERMINAL: accepted; its parse ends `completed` or `error` (with a reason), never stuck, never a 5xx.
- FAIL: accepted; its parse must end `error` with a reason (nothing readable in it).
- TEXT: accepted; the parse must complete (real text is in it).
A case may also name strings that must never appear in what was extracted (`forbidden`: XXE file contents,
entity expansions).
"""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
MB = 1024 * 1024

REJECT, TERMINAL, FAIL, TEXT = "reject", "terminal", "fail", "text"
PASSWD_MARK = "root:x:0:0"  # what /etc/passwd starts with: an XXE that worked would put it in the text


@dataclass
class Case:
    id: str
    filename: str
    make: Callable[[], bytes]
    expect: str
    forbidden: tuple[str, ...] = ()
    tags: tuple[str, ...] = field(default=())


def corpus_bytes(relpath: str) -> bytes:
    return (CORPUS / relpath).read_bytes()


# ---------------------------------------------------------------- zip-based Office files

BASE_DOCX = "docx/par-known-styles.docx"
BASE_XLSX = "xlsx/css-colors.xlsx"


def rezip(relpath: str, *, replace: dict[str, bytes] | None = None, add: list[tuple[str, bytes]] = (),
          drop: tuple[str, ...] = (), compression=zipfile.ZIP_DEFLATED) -> bytes:  # fmt: skip
    """A real Office file with some members replaced, dropped or added (in that order)."""
    replace = replace or {}
    out = io.BytesIO()
    with zipfile.ZipFile(CORPUS / relpath) as src, zipfile.ZipFile(out, "w", compression) as dst:
        for info in src.infolist():
            if info.filename in drop:
                continue
            dst.writestr(info.filename, replace.get(info.filename, src.read(info.filename)))
        for name, data in add:
            dst.writestr(name, data)
    return out.getvalue()


def docx_with_body(body_xml: str, *, prolog: str = "") -> bytes:
    """The base DOCX whose document.xml body is `body_xml` (WordprocessingML), with an optional DTD prolog."""
    document = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n{prolog}'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body>{body_xml}</w:body></w:document>"
    )
    return rezip(BASE_DOCX, replace={"word/document.xml": document.encode()})


def para(text: str) -> str:
    return f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"


def xlsx_with_strings(strings_xml: str, *, prolog: str = "") -> bytes:
    sst = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n{prolog}'
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"{strings_xml}</sst>"
    )
    return rezip(BASE_XLSX, replace={"xl/sharedStrings.xml": sst.encode()})


def xlsx_with_sheet(rows_xml: str) -> bytes:
    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"<sheetData>{rows_xml}</sheetData></worksheet>"
    )
    return rezip(BASE_XLSX, replace={"xl/worksheets/sheet1.xml": sheet.encode()})


def random_words(n: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return " ".join("".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(n))


def zip_with_lying_size() -> bytes:
    """A DOCX whose 20 MB zero entry claims, in the central directory, to hold 1,000 bytes: the header check passes
    and only a reader that counts what it inflates notices."""
    data = bytearray(rezip(BASE_DOCX, add=[("word/media/zeros.bin", b"\0" * (20 * MB))]))
    record = data.rfind(b"word/media/zeros.bin") - 46  # central directory record: 46 fixed bytes, then the name
    assert data[record : record + 4] == b"PK\x01\x02", "central record not found"
    struct.pack_into("<I", data, record + 24, 1000)  # its uncompressed size
    return bytes(data)


def zip_with_encrypted_flag() -> bytes:
    """document.xml marked as encrypted (general-purpose flag bit 0) although it is not."""
    data = bytearray(rezip(BASE_DOCX))
    name = b"word/document.xml"
    local = data.find(b"PK\x03\x04")  # walk the local headers to the right one
    while local != -1:
        name_len = struct.unpack_from("<H", data, local + 26)[0]
        if data[local + 30 : local + 30 + name_len] == name:
            data[local + 6] |= 1
            break
        local = data.find(b"PK\x03\x04", local + 4)
    record = data.rfind(name) - 46
    data[record + 8] |= 1
    return bytes(data)


def many_entries_zip() -> bytes:
    return rezip(BASE_DOCX, add=[(f"customXml/item{i}.xml", b"<a/>") for i in range(10_050)],
                 compression=zipfile.ZIP_STORED)  # fmt: skip


def nested_zip_bomb() -> bytes:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.bin", b"\0" * (8 * MB))
    return rezip(BASE_DOCX, add=[("word/embeddings/inner.zip", inner.getvalue())])


BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + "]>"
)
XXE_FILE = '<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
XXE_NET = '<!DOCTYPE d [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/xxe">]>'
XXE_PARAM = '<!DOCTYPE d [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>'


def office_cases() -> list[Case]:
    deep = "<w:tbl><w:tr><w:tc>" * 5000 + para("deep") + "</w:tc></w:tr></w:tbl>" * 5000
    return [
        Case(
            "docx-ratio-bomb",
            "bomb.docx",
            lambda: rezip(BASE_DOCX, add=[("word/media/a.bin", b"\0" * 40 * MB)]),
            REJECT,
        ),  # fmt: skip
        Case(
            "docx-entry-over-200mb",
            "big-entry.docx",
            lambda: rezip(BASE_DOCX, add=[("word/media/a.bin", b"\0" * (201 * MB))]),
            REJECT,
        ),  # fmt: skip
        Case(
            "xlsx-ratio-bomb", "bomb.xlsx", lambda: xlsx_with_sheet("<row><c><v>1</v></c></row>" * 1_500_000), REJECT
        ),  # fmt: skip
        Case("zip-10k-entries", "many.docx", many_entries_zip, REJECT),
        Case("zip-path-traversal", "traversal.docx", lambda: rezip(BASE_DOCX, add=[("../../evil.txt", b"x")]), REJECT),
        Case(
            "zip-absolute-path", "absolute.docx", lambda: rezip(BASE_DOCX, add=[("/etc/cron.d/evil", b"x")]), REJECT
        ),  # fmt: skip
        Case(
            "zip-backslash-path", "backslash.docx", lambda: rezip(BASE_DOCX, add=[("..\\..\\evil.txt", b"x")]), REJECT
        ),  # fmt: skip
        Case("zip-nested-bomb", "nested.docx", nested_zip_bomb, TERMINAL),
        Case("docx-missing-document", "hollow.docx", lambda: rezip(BASE_DOCX, drop=("word/document.xml",)), REJECT),
        Case("xlsx-missing-workbook", "hollow.xlsx", lambda: rezip(BASE_XLSX, drop=("xl/workbook.xml",)), REJECT),
        Case(
            "docx-truncated", "cut.docx", lambda: corpus_bytes(BASE_DOCX)[: len(corpus_bytes(BASE_DOCX)) // 2], REJECT
        ),  # fmt: skip
        Case("zip-lying-size", "liar.docx", zip_with_lying_size, REJECT),
        Case("zip-encrypted-flag", "locked.docx", zip_with_encrypted_flag, REJECT),
        Case(
            "zip-duplicate-names",
            "twice.docx",
            lambda: rezip(BASE_DOCX, add=[("word/document.xml", b"<broken")]),
            TERMINAL,
        ),  # fmt: skip
        Case(
            "docx-billion-laughs",
            "laughs.docx",
            lambda: docx_with_body(para("&lol9;"), prolog=BILLION_LAUGHS),
            TERMINAL,
            forbidden=("lollollollol",),
        ),
        Case(
            "docx-xxe-file",
            "xxe.docx",
            lambda: docx_with_body(para("before &xxe; after"), prolog=XXE_FILE),
            TERMINAL,
            forbidden=(PASSWD_MARK,),
        ),  # fmt: skip
        Case("docx-xxe-network", "xxe-net.docx", lambda: docx_with_body(para("a &xxe; b"), prolog=XXE_NET), TERMINAL),
        Case(
            "docx-xxe-parameter",
            "xxe-param.docx",
            lambda: docx_with_body(para("p"), prolog=XXE_PARAM),
            TERMINAL,
            forbidden=(PASSWD_MARK,),
        ),  # fmt: skip
        Case("docx-deep-nesting", "deep.docx", lambda: docx_with_body(deep), TERMINAL),
        Case("docx-huge-paragraph", "long.docx", lambda: docx_with_body(para(random_words(400_000))), TERMINAL),
        # 5,000: unstructured needs about 185 s (and near 2 GB) for 50,000 paragraphs — a large-document cost
        # (issue 18), too slow for this suite.
        Case(
            "docx-5k-paragraphs",
            "paras.docx",
            lambda: docx_with_body("".join(para(f"Paragraph {i} {random_words(6, i)}") for i in range(5_000))),
            TEXT,
        ),  # fmt: skip
        Case("docx-no-body-text", "blank.docx", lambda: docx_with_body(""), TERMINAL),
        Case(
            "xlsx-200k-strings",
            "strings.xlsx",
            lambda: xlsx_with_strings("".join(f"<si><t>s{i} {random_words(2, i)}</t></si>" for i in range(200_000))),
            TERMINAL,
        ),  # fmt: skip
        Case(
            "xlsx-16384-columns",
            "wide.xlsx",
            lambda: xlsx_with_sheet(
                "<row r='1'>" + "".join(f"<c t='inlineStr'><is><t>c{i}</t></is></c>" for i in range(16384)) + "</row>"
            ),
            TERMINAL,
        ),  # fmt: skip
        Case(
            "xlsx-formula-injection",
            "formulas.xlsx",
            lambda: xlsx_with_sheet(
                "<row><c t='inlineStr'><is><t>=cmd|' /C calc'!A0</t></is></c>"
                '<c><f>HYPERLINK("http://127.0.0.1:9/","x")</f><v>0</v></c></row>'
            ),
            TERMINAL,
        ),  # fmt: skip
        Case("xlsx-empty-sheet", "empty-sheet.xlsx", lambda: xlsx_with_sheet(""), TERMINAL),
        Case(
            "xlsx-xxe-strings",
            "xxe.xlsx",
            lambda: xlsx_with_strings("<si><t>&xxe;</t></si>", prolog=XXE_FILE),
            TERMINAL,
            forbidden=(PASSWD_MARK,),
        ),  # fmt: skip
        Case(
            "xlsx-32k-cell",
            "cell.xlsx",
            lambda: xlsx_with_sheet(f"<row><c t='inlineStr'><is><t>{random_words(5000)[:32767]}</t></is></c></row>"),
            TERMINAL,
        ),  # fmt: skip
        Case("xlsx-legacy-xls-renamed", "old.xlsx", lambda: corpus_bytes("xlsx/csvkit-sheets.xls"), REJECT),
        Case("docx-real-reference", "known-styles.docx", lambda: corpus_bytes(BASE_DOCX), TEXT),
    ]


# ---------------------------------------------------------------- PDFs


def pdf_from_objects(objects: list[bytes], *, root: int = 1, size: int | None = None) -> bytes:
    """A PDF from numbered object bodies (objects[0] is object 1) with a correct xref."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size or len(objects) + 1, root, xref)
    return bytes(out)


def stream(data: bytes, extra: bytes = b"", *, length: bytes | None = None) -> bytes:
    return (
        b"<< /Length " + (length or str(len(data)).encode()) + b" " + extra + b" >>\nstream\n" + data + b"\nendstream"
    )


TEXT_PAGE = b"BT /F1 12 Tf 72 720 Td (Parcel lockers open with a six digit code.) Tj ET"
FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def one_page_pdf(content: bytes = TEXT_PAGE, *, catalog_extra: bytes = b"", page_extra: bytes = b"") -> bytes:
    return pdf_from_objects([
        b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> "
        b"/Contents 4 0 R " + page_extra + b" >>",
        stream(content),
        FONT,
    ])  # fmt: skip


def self_referencing_length_pdf() -> bytes:
    """The stream's /Length is an indirect reference to the stream object itself (seen stalling a parse slot)."""
    return pdf_from_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        stream(TEXT_PAGE * 200, length=b"4 0 R"),
    ])  # fmt: skip


def cyclic_pages_pdf() -> bytes:
    return pdf_from_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
        b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R] /Count 1 >>",
    ])  # fmt: skip


def huge_count_pdf() -> bytes:
    data = one_page_pdf()
    return data.replace(b"/Count 1 >>", b"/Count 2000000000 >>")


def deep_array_pdf() -> bytes:
    return one_page_pdf(page_extra=b"/Annots " + b"[" * 100_000 + b"]" * 100_000)


def flate_bomb_pdf() -> bytes:
    zeros = zlib.compress(b" " * (300 * MB), 9)
    return pdf_from_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        stream(zeros, b"/Filter /FlateDecode"),
    ])  # fmt: skip


def many_pages_pdf(pages: int = 5000) -> bytes:
    kids = b" ".join(b"%d 0 R" % (3 + i) for i in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"] * pages
    return pdf_from_objects(objects)


def javascript_pdf() -> bytes:
    return one_page_pdf(catalog_extra=b"/OpenAction << /S /JavaScript /JS (app.alert('pxb')) >>")


def launch_action_pdf() -> bytes:
    return one_page_pdf(catalog_extra=b"/OpenAction << /S /Launch /F (/bin/sh) >>")


def uri_action_pdf() -> bytes:
    return one_page_pdf(catalog_extra=b"/OpenAction << /S /URI /URI (http://169.254.169.254/latest/meta-data/) >>")


def pdf_cases() -> list[Case]:
    broken = sorted(p.name for p in (CORPUS / "pdf" / "broken").glob("*.pdf"))
    cases = [Case(f"pdf-broken-{name[:-4]}", name, lambda n=name: corpus_bytes(f"pdf/broken/{n}"), TERMINAL)
             for name in broken]  # fmt: skip
    cleveref = "pdf/cleveref.pdf"
    cases += [
        Case(
            "pdf-truncated-real",
            "half.pdf",
            lambda: corpus_bytes(cleveref)[: len(corpus_bytes(cleveref)) * 2 // 5],
            TERMINAL,
        ),  # fmt: skip
        Case("pdf-header-only", "header.pdf", lambda: b"%PDF-1.7\n%%EOF\n", FAIL),
        Case("pdf-self-referencing-length", "selfref.pdf", self_referencing_length_pdf, TERMINAL),
        Case("pdf-cyclic-page-tree", "cyclic.pdf", cyclic_pages_pdf, TERMINAL),
        Case("pdf-count-two-billion", "count.pdf", huge_count_pdf, TERMINAL),
        Case("pdf-100k-nested-arrays", "nested.pdf", deep_array_pdf, TERMINAL),
        Case("pdf-flate-bomb", "flate.pdf", flate_bomb_pdf, TERMINAL),
        Case("pdf-5000-blank-pages", "blank.pdf", many_pages_pdf, TERMINAL),
        Case("pdf-javascript-action", "js.pdf", javascript_pdf, TERMINAL),
        Case("pdf-launch-action", "launch.pdf", launch_action_pdf, TERMINAL),
        Case("pdf-uri-action-to-metadata", "uri.pdf", uri_action_pdf, TERMINAL),
        Case(
            "pdf-random-after-header", "noise.pdf", lambda: b"%PDF-1.4\n" + random.Random(3).randbytes(100_000), FAIL
        ),  # fmt: skip
        Case("pdf-handmade-text", "handmade.pdf", one_page_pdf, TEXT),
    ]
    return cases


# ---------------------------------------------------------------- type spoofs and polyglots

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)
ELF = b"\x7fELF\x02\x01\x01" + b"\0" * 9 + b"\x02\x00>\x00" + random.Random(1).randbytes(4000)
MZ = b"MZ\x90\x00\x03" + b"\0" * 59 + random.Random(2).randbytes(4000)


def gzip_bytes() -> bytes:
    import gzip

    return gzip.compress(b"plain text inside a gzip " * 100)


def pdf_zip_polyglot() -> bytes:
    return corpus_bytes("pdf/exam-n.pdf") + corpus_bytes(BASE_DOCX)


def zip_with_pdf_prefix() -> bytes:
    return b"%PDF-1.4\n" + corpus_bytes(BASE_DOCX)


def spoof_cases() -> list[Case]:
    return [
        Case("spoof-elf-as-pdf", "invoice.pdf", lambda: ELF, REJECT),
        Case("spoof-png-as-txt", "notes.txt", lambda: PNG * 50, REJECT),
        Case("spoof-zip-as-pdf", "report.pdf", lambda: corpus_bytes(BASE_DOCX), REJECT),
        Case("spoof-pdf-as-docx", "letter.docx", lambda: corpus_bytes("pdf/exam-n.pdf"), REJECT),
        Case("spoof-docx-as-xlsx", "sheet.xlsx", lambda: corpus_bytes(BASE_DOCX), REJECT),
        Case("spoof-xlsx-as-docx", "letter2.docx", lambda: corpus_bytes(BASE_XLSX), REJECT),
        Case("spoof-gzip-as-txt", "log.txt", gzip_bytes, REJECT),
        Case("spoof-exe-as-csv", "table.csv", lambda: MZ, REJECT),
        Case("spoof-elf-as-md", "readme.md", lambda: ELF, REJECT),
        Case("spoof-html-as-txt", "page.txt", lambda: corpus_bytes("html/libffi-Simple-Example.html"), TEXT),
        Case("spoof-png-as-html", "page.html", lambda: PNG, REJECT),
        Case("polyglot-pdf-then-zip", "poly.pdf", pdf_zip_polyglot, TERMINAL),
        Case("polyglot-zip-with-pdf-header", "poly.docx", zip_with_pdf_prefix, REJECT),
        Case(
            "text-utf16-bom",
            "utf16.txt",
            lambda: "\ufeffUTF-16 text about parcel lockers.\n".encode("utf-16-le") * 40,
            TEXT,
        ),  # fmt: skip
        Case("text-nul-bytes", "nul.txt", lambda: b"some text\0\0\0more\0" * 200, REJECT),
        Case("empty-file", "empty.txt", lambda: b"", REJECT),
        Case("no-extension", "README", lambda: b"plain text " * 50, REJECT),
        Case("double-extension-exe", "report.pdf.exe", lambda: corpus_bytes("pdf/exam-n.pdf"), REJECT),
        Case("uppercase-extension", "REPORT.PDF", lambda: corpus_bytes("pdf/exam-n.pdf"), TEXT),
        Case("legacy-xls", "old.xls", lambda: corpus_bytes("xlsx/csvkit-sheets.xls"), REJECT),
    ]


# ---------------------------------------------------------------- hostile file names (harmless content)

NAME_TEXT = b"Lockers keep parcels for three days; the code arrives by text message.\n" * 20


def name_cases() -> list[Case]:
    names = [  # a 255-character name is kept (cut to 255 by file_accept); 1,000 exceed the multipart limits
        ("name-dotdot-slash", "../../etc/passwd.txt", TEXT),
        ("name-dotdot-backslash", "..\\..\\windows\\win.ini.txt", TEXT),
        ("name-absolute", "/etc/shadow.txt", TEXT),
        ("name-1000-chars", "a" * 996 + ".txt", REJECT),
        ("name-300-chars", "b" * 296 + ".txt", TEXT),
        ("name-rtl-override", "invoice\u202etxt.exe", REJECT),
        ("name-script-tag", "<script>alert(1)</script>.txt", TEXT),
        ("name-newlines", "line\r\nbreak\n.txt", TEXT),
        ("name-dos-device", "CON.txt", TEXT),
        ("name-dot-only-extension", ".txt", REJECT),
        ("name-emoji", "\U0001f4c4 report.md", TEXT),
        ("name-percent-encoded", "%2e%2e%2fpasswd.txt", TEXT),
        ("name-template-tag", "{{ settings.SECRET_KEY }}{% debug %}.txt", TEXT),
        ("name-quote-and-semicolon", 'a"; filename=evil.exe.txt', TEXT),
    ]
    return [Case(case_id, name, lambda: NAME_TEXT, expect) for case_id, name, expect in names]


# ---------------------------------------------------------------- payload documents (markup that must stay text)

PAYLOAD_MARK = "pxb-payload"
PAYLOADS = {
    "payload-script-txt": ("script.txt", f"{PAYLOAD_MARK} <script>window.__pxb=1</script> lockers.\n"),
    "payload-template-txt": ("template.txt", f"{PAYLOAD_MARK} {{{{ settings.SECRET_KEY }}}} {{% debug %}} lockers\n"),
    "payload-htmx-html": (
        "htmx.html",
        f"<html><body><p>{PAYLOAD_MARK} lockers</p><div hx-get='/admin/' hx-trigger='load'>load</div></body></html>",
    ),
    "payload-onerror-md": ("onerror.md", f'# {PAYLOAD_MARK}\n\n<img src=x onerror="window.__pxb=2"> lockers\n'),
    "payload-javascript-link-md": ("link.md", f"# {PAYLOAD_MARK}\n\n[click](javascript:alert(1)) lockers\n"),
    "payload-meta-refresh-html": (
        "refresh.html",
        "<html><head><meta http-equiv='refresh' content='0;url=http://"
        f"127.0.0.1:9/'></head><body><p>{PAYLOAD_MARK} lockers</p></body></html>",
    ),
    "payload-iframe-base-html": (
        "frame.html",
        "<html><head><base href='http://127.0.0.1:9/'></head><body>"
        f"<iframe src='/admin/'></iframe><p>{PAYLOAD_MARK} lockers</p></body></html>",
    ),
    "payload-svg-script-html": (
        "svg.html",
        f"<html><body><p>{PAYLOAD_MARK} lockers</p><svg onload='window.__pxb=3'>"
        "<script>window.__pxb=4</script></svg></body></html>",
    ),
    "payload-csv-markup": ("markup.csv", f"name,note\n{PAYLOAD_MARK},<script>window.__pxb=5</script>\n"),
}


def payload_cases() -> list[Case]:
    return [Case(cid, name, lambda t=text: (t * 5).encode(), TEXT, tags=("payload",))
            for cid, (name, text) in PAYLOADS.items()]  # fmt: skip


# ---------------------------------------------------------------- CSV edge cases


def csv_cases() -> list[Case]:
    return [
        Case(
            "csv-formula-injection",
            "formulas.csv",
            lambda: b"name,value\n=cmd|' /C calc'!A0,1\n@SUM(1+1)*cmd|' /C calc'!A0,2\n+1+1,3\n-2+3,4\n",
            TEXT,
        ),
        Case("csv-3mb-single-line", "line.csv", lambda: random_words(500_000).replace(" ", ",").encode(), TERMINAL),
        Case(
            "csv-20000-columns",
            "wide.csv",
            lambda: (",".join(f"h{i}" for i in range(20000)) + "\n" + ",".join("x" * 20000) + "\n").encode(),
            TERMINAL,
        ),  # fmt: skip
        Case("csv-unbalanced-quotes", "quotes.csv", lambda: b'a,b\n"open,1\n2,"x\n' * 200, TERMINAL),
        Case("csv-only-delimiters", "commas.csv", lambda: b",,,,,\n" * 2000, TERMINAL),
        Case("csv-bom-crlf", "bom.csv", lambda: b"\xef\xbb\xbfcity,code\r\nOslo,0150\r\nBergen,5003\r\n" * 50, TEXT),
        Case(
            "csv-latin1", "latin1.csv", lambda: "ville,note\nMontréal,été\nQuébec,forêt\n".encode("latin-1") * 50, TEXT
        ),  # fmt: skip
        Case("csv-nul-bytes", "nul.csv", lambda: b"a,b\n1,\0\0\0\n" * 100, REJECT),
        Case("csv-blank-lines-only", "blank.csv", lambda: b"\n\n\n\r\n" * 500, TERMINAL),
        Case(
            "csv-semicolon-quoted-newlines",
            "multi.csv",
            lambda: b'id;text\n1;"line one\nline two"\n2;"x;y"\n' * 100,
            TEXT,
        ),  # fmt: skip
        Case("csv-real-reference", "iris.csv", lambda: corpus_bytes("csv/iris.csv"), TEXT),
    ]


def all_cases() -> list[Case]:
    return [*office_cases(), *pdf_cases(), *spoof_cases(), *name_cases(), *payload_cases(), *csv_cases()]
