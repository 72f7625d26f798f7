"""The whole path in a real browser with a real worker: log in → draft → PDF + text → chunk size changes the
preview → finalize → documents become ready without a reload → the retrieval panel finds the chunk.
Saves a screenshot of every wizard step and of the KB page into docs/screenshots/."""

import re

import pytest
from playwright.sync_api import expect

from kb.models import KnowledgeBase
from tests.browser import wizard
from tests.browser.conftest import CORPUS, login, screenshot
from tests.browser.wizard import total_chunks
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASTED = (
    "Opening hours of the exams office: Monday to Friday, 9:00 to 17:00. "
    "Candidates who miss an exam must contact the exams office within three days."
)


def test_the_whole_walk(page, worker_process, owner, workspace):
    worker_process()
    login(page, "owner", PASSWORD)
    expect(page.get_by_role("heading", name=re.compile("Support"))).to_be_visible()

    # 1 basics
    wizard.fill_basics(
        page, name="Exam handbook", description="How to set exam papers with the exam-n class, and office hours."
    )
    screenshot(page, "wizard-1-basics")
    wizard.submit_basics(page)

    # 2 sources: a PDF and pasted text; the list polls until the PDF is read
    wizard.upload_file(page, CORPUS / "pdf" / "exam-n.pdf")
    expect(page.locator("#file-form")).to_contain_text("being read now")
    page.get_by_label("Title").fill("Exams office")
    page.get_by_label("Text").fill(PASTED)
    page.get_by_role("button", name="Add text").click()
    expect(page.locator("#text-form")).to_contain_text("Added “Exams office”")
    wizard.wait_sources_completed(page, 2)
    expect(page.locator("#source-list")).to_contain_text("17 pages")
    page.locator("#source-list summary", has_text="Content preview").first.click()
    screenshot(page, "wizard-2-sources")

    # 3 chunking: a smaller chunk size re-renders the preview (debounced POST, nothing saved)
    wizard.open_chunking(page)
    before = total_chunks(page)
    assert before > 1
    page.get_by_label("Chunk size (characters)").fill("300")
    page.get_by_label("Overlap (characters)").fill("30")
    page.wait_for_function("n => Number(document.querySelector('#preview-stats').dataset.totalChunks) > n", arg=before)
    after = total_chunks(page)
    assert after > before
    expect(page.locator("#preview .chunk").first).to_contain_text("tokens")
    expect(page.locator("#preview-busy")).not_to_have_class(re.compile("htmx-request"))
    screenshot(page, "wizard-3-chunking", full_page=False)  # settings and the first chunk cards
    page.get_by_label("Chunk size (characters)").fill("500")
    page.get_by_label("Overlap (characters)").fill("50")
    page.wait_for_function("n => Number(document.querySelector('#preview-stats').dataset.totalChunks) < n", arg=after)
    wizard.save_chunking(page)

    # 4 embedding and search settings with the estimate
    expect(page.locator("body")).to_contain_text("processing on one worker")
    screenshot(page, "wizard-4-embedding")
    wizard.save_embedding(page)

    # 5 review, then finalize
    expect(page.locator("#report")).to_contain_text("2 / 2")
    screenshot(page, "wizard-5-review")
    wizard.finalize(page)

    # KB page: the documents become ready by polling, without a reload
    kb = KnowledgeBase.objects.get(name="Exam handbook")
    assert kb.chunking_config["chunk_size"] == 500
    page.evaluate("window.__sameDocument = true")
    wizard.wait_documents_ready(page, 2)
    expect(page.locator("#documents")).to_have_attribute("data-polling", "false")
    assert page.evaluate("window.__sameDocument") is True  # updated in place, never reloaded

    # retrieval-test panel: the pasted text's chunk first, and the PDF's chunk about the \\author command
    page.get_by_label("Query").fill("When must candidates who miss an exam contact the office?")
    page.get_by_role("button", name="Search", exact=True).click()
    first = page.locator("#search-results li.result").first
    expect(first).to_contain_text("Exams office", timeout=60_000)
    expect(first).to_contain_text("within three days")
    expect(first.locator("mark").first).to_be_visible()
    results = wizard.search(page, "author command")
    expect(results).to_contain_text("The \\author command is a convenience")
    expect(results).to_contain_text("exam-n.pdf")
    expect(results).to_contain_text("keyword #1")
    screenshot(page, "kb-page")
    page.goto("/")
    screenshot(page, "dashboard")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(f"/kb/{kb.pk}/")
    expect(page.locator("#documents")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")  # no sideways scroll
    screenshot(page, "kb-page-narrow", full_page=False)
    assert not page.console_errors
