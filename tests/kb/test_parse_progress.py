"""Long PDFs read in page ranges (kb.pipeline.pdf_split, issue 18): the same elements as one whole-file parse, and
progress in pages done / pages total while the parse runs — on the document and on a draft's source."""

import io
import time

import pikepdf
import pytest

from kb.models import Document
from kb.pipeline.parse import parse_in_subprocess
from kb.pipeline.pdf_split import page_ranges, partition_parts
from kb.pipeline.types import PipelineError
from kb.search.snapshot import content_version
from tests.kb.conftest import upload


def test_page_ranges_cover_every_page_once_in_order():
    assert page_ranges(311, 50) == [(0, 50), (50, 100), (100, 150), (150, 200), (200, 250), (250, 300), (300, 311)]
    assert page_ranges(50, 50) == [(0, 50)]
    assert page_ranges(3, 1) == [(0, 1), (1, 2), (2, 3)]
    assert page_ranges(0, 50) == []


@pytest.mark.slow
def test_a_pdf_read_in_page_ranges_gives_exactly_the_whole_files_elements(corpus):
    # gnuplot's manual: 311 pages and a hyperref outline, so headings (and the heading path every element carries)
    # continue across the ranges.
    path = str(corpus / "pdf" / "gnuplot.pdf")
    reports = []
    [whole] = parse_in_subprocess([(path, "pdf")], pdf_part_pages=0, on_progress=lambda *r: reports.append(r))
    assert not reports  # read whole: no ranges, no page progress
    [ranged] = parse_in_subprocess([(path, "pdf")], pdf_part_pages=50, on_progress=lambda *r: reports.append(r))
    assert not isinstance(whole, PipelineError) and not isinstance(ranged, PipelineError)
    assert len(whole) > 3000
    assert ranged == whole  # text, type, page, heading path, level: element by element, in order
    assert {e["page"] for e in ranged} >= {1, 50, 51, 311}
    assert reports == [(0, done, 311) for done in (0, 50, 100, 150, 200, 250, 300, 311)]


def _watch(read, until, timeout=600):
    """Poll `read()` every 0.1 s until `until(value)`; return every distinct value seen."""
    seen, deadline = [], time.monotonic() + timeout
    while True:
        value = read()
        if not seen or value != seen[-1]:
            seen.append(value)
        if until(value):
            return seen
        assert time.monotonic() < deadline, f"timed out; seen {seen[-5:]}"
        time.sleep(0.1)


@pytest.mark.slow
def test_progress_moves_with_the_pages_while_a_worker_parses(worker_process, kb, owner, workspace, corpus):
    from drafts.models import DraftSource
    from drafts.services import draft_create, draft_source_add_file

    worker_process(PARSE_PDF_PAGES_PER_PART="10")
    doc = upload(kb, owner, corpus / "pdf" / "arydshln.pdf")  # 81 pages: 9 ranges

    def document_state():
        row = Document.objects.values("status", "progress", "stats").get(pk=doc.pk)
        return row["status"], row["progress"], (row["stats"] or {}).get("parse_pages")

    seen = _watch(document_state, lambda s: s[0] in ("ready", "failed", "quarantined"))
    assert seen[-1][0] == "ready", seen[-1]
    parsing = [(progress, pages) for status, progress, pages in seen if status == "parsing" and pages]
    midway = [(progress, pages) for progress, pages in parsing if 0 < pages["done"] < pages["total"]]
    assert midway, parsing  # seen between the first and the last page, not only at the end
    assert all(pages["total"] == 81 for _, pages in parsing)
    assert [pages["done"] for _, pages in parsing] == sorted(pages["done"] for _, pages in parsing)
    assert all(0 < progress < 20 for progress, _ in midway)  # inside the parse stage's share (kb.pipeline.runner)

    draft = draft_create(workspace=workspace, user=owner, name="Long PDF")
    path = corpus / "pdf" / "cleveref.pdf"  # 33 pages: 4 ranges
    source = draft_source_add_file(draft=draft, user=owner, filename=path.name, fileobj=io.BytesIO(path.read_bytes()))

    def source_state():
        row = DraftSource.objects.values("status", "pages_processed", "pages_found").get(pk=source.pk)
        return row["status"], row["pages_processed"], row["pages_found"]

    seen = _watch(source_state, lambda s: s[0] in ("completed", "error"))
    assert seen[-1] == ("completed", 33, 33), seen
    assert any(status == "processing" and 0 < done < 33 == total for status, done, total in seen), seen


def _contents(pdf) -> list[bytes]:
    """Each page's content stream(s), decoded: what pdfminer reads the text from."""
    out = []
    for page in pdf.pages:
        contents = page.obj.get("/Contents")
        streams = contents if isinstance(contents, pikepdf.Array) else [contents] if contents is not None else []
        out.append(b"".join(stream.read_bytes() for stream in streams))
    return out


def test_the_parts_hold_every_page_once_in_order_also_across_reopens_of_the_source(corpus):
    path = corpus / "pdf" / "octave.pdf"  # 1,158 pages: the source is opened again after every 500 copied

    def part_contents(part_path):
        with pikepdf.open(part_path) as part:
            return _contents(part)

    parts = list(partition_parts(str(path), part_contents, part_pages=50))
    assert [(offset, done, total) for _, offset, done, total in parts] == [
        (start, stop, 1158) for start, stop in page_ranges(1158, 50)
    ]
    with pikepdf.open(path) as whole:
        assert [page for contents, *_ in parts for page in contents] == _contents(whole)


def test_page_progress_is_written_to_stats_and_shown_without_touching_what_search_serves(client_for, owner, kb):
    from django.urls import reverse

    from kb.pipeline.runner import Reporter

    doc = Document.objects.create(
        kb=kb, source_type="file_upload", name="manual.pdf", file_type="pdf", status="parsing", attempts=1,
        stats={"parse_s": 1.0}, metadata={"original_filename": "manual.pdf"},
    )  # fmt: skip
    version = content_version(kb.pk)
    Reporter(doc).pages(450, 8076)
    doc.refresh_from_db()
    assert doc.stats == {"parse_s": 1.0, "parse_pages": {"done": 450, "total": 8076}}  # merged, nothing lost
    assert doc.progress == 1  # 450 / 8076 of the parse stage's 0-20 %
    assert doc.metadata == {"original_filename": "manual.pdf"}
    assert content_version(kb.pk) == version  # the KB's result cache stays valid
    html = client_for(owner).get(reverse("kb:detail", args=[kb.pk])).content.decode()
    assert "450 of 8076 pages read" in html


def test_a_draft_source_shows_the_pages_read_while_it_is_parsed(client_for, owner, workspace):
    from django.urls import reverse

    from drafts.models import DraftSource
    from drafts.services import draft_create

    draft = draft_create(workspace=workspace, user=owner, name="Manuals")
    DraftSource.objects.create(
        draft=draft, type="file_upload", name="manual.pdf", file_type="pdf", status="processing",
        pages_found=8076, pages_processed=450,
    )  # fmt: skip
    html = client_for(owner).get(reverse("drafts:sources", args=[draft.pk])).content.decode()
    assert 'max="8076" value="450"' in html and "450 of 8076 pages read" in html
