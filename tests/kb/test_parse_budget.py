"""Parse budgets that follow the file (issue 15's fairness rule): a small file built to be slow fails fast,
a large real manual gets the time its pages need, and nothing exceeds the ceiling."""

import time

import pytest

from kb.pipeline.budget import ParseBudget, file_budget, measured_size
from kb.pipeline.parse import configured_budget, parse_in_subprocess
from kb.pipeline.types import PipelineError
from tests.kb.test_fairness import slow_pdf

DEFAULT = ParseBudget()  # the shipped defaults (privexbot/settings.py PARSE_CPU_*)


def test_the_budget_grows_with_pages_and_bytes_up_to_the_ceiling():
    assert DEFAULT.cpu_seconds(size_bytes=9_000, pages=1) == 30  # the base
    manual = DEFAULT.cpu_seconds(size_bytes=10 * 2**20, pages=2500)
    assert manual == 30 + 1250 + 200  # a 2,500-page, 10 MB manual: its pages' worth
    assert DEFAULT.cpu_seconds(size_bytes=300 * 2**20, pages=60_000) == 1800  # the ceiling


def test_a_small_file_claiming_thousands_of_pages_gets_a_small_budget():
    # 5,000 blank pages in 200 KB: at most one page per KB counts.
    assert DEFAULT.cpu_seconds(size_bytes=200 * 1024, pages=5000) == int(30 + 0.5 * 200 + 20 * 200 / 1024)


def test_the_wall_clock_follows_the_cpu_budget_and_stops_at_its_ceiling():
    assert DEFAULT.wall_seconds(30, ceiling=3600) == 90
    assert DEFAULT.wall_seconds(1800, ceiling=3600) == 3600


def test_real_pdfs_are_measured_by_their_pages(corpus):
    octave = corpus / "pdf" / "octave.pdf"  # 1,158 pages, 4.5 MB
    assert file_budget(str(octave), "pdf", DEFAULT) == int(30 + 0.5 * 1158 + 20 * octave.stat().st_size / 2**20)
    broken = corpus / "pdf" / "broken" / "378014596.pdf"  # no page count: bytes only
    assert file_budget(str(broken), "pdf", DEFAULT) == 30


def test_zip_formats_are_measured_by_their_expanded_size(corpus):
    docx = corpus / "docx" / "blk-paras-and-tables.docx"
    assert measured_size(str(docx), "docx") > 2 * docx.stat().st_size  # XML inflates
    pdf = corpus / "pdf" / "exam-n.pdf"
    assert measured_size(str(pdf), "pdf") == pdf.stat().st_size


def test_the_workers_budget_comes_from_settings(settings):
    settings.PARSE_CPU_BASE_SECONDS, settings.PARSE_CPU_CEILING = 7, 99
    assert configured_budget() == ParseBudget(7, settings.PARSE_CPU_PER_PAGE, settings.PARSE_CPU_PER_MB, 99)


@pytest.mark.slow
def test_a_slow_hostile_pdf_fails_fast_while_a_real_document_parses_under_the_same_budget(tmp_path, corpus):
    hostile = tmp_path / "slow.pdf"
    hostile.write_bytes(slow_pdf())  # about 40 s of CPU without a budget
    budget = ParseBudget(base_seconds=4)
    started = time.monotonic()
    slow, real = parse_in_subprocess(
        [(str(hostile), "pdf"), (str(corpus / "pdf" / "exam-n.pdf"), "pdf")], budget=budget
    )
    assert isinstance(slow, PipelineError) and slow.code == "resource_limit", slow
    assert "CPU" in slow.message
    assert not isinstance(real, PipelineError) and len(real) > 20
    assert time.monotonic() - started < 30
