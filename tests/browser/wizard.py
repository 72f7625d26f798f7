"""The wizard's steps as a browser takes them, shared by the live-server walk (test_walk.py) and the walk against
production-mode gunicorn (test_production_walk.py), so both exercise the same selectors."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect


def fill_basics(page, *, name: str, description: str) -> None:
    """From the dashboard: open the wizard and fill step 1 (submit with submit_basics)."""
    page.get_by_role("link", name="Create knowledge base").click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Description").fill(description)


def submit_basics(page) -> None:
    page.get_by_role("button", name="Create draft and add sources").click()
    page.wait_for_url("**/sources/")


def upload_file(page, path: Path) -> None:
    """Step 2: upload one file; the list then shows it being read by a worker."""
    page.locator("#id_files").set_input_files(str(path))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#file-form")).to_contain_text(path.name)


def wait_sources_completed(page, count: int, *, timeout: float = 90_000) -> None:
    """The source list polls (HTMX) until the worker has read every source."""
    expect(page.locator("#source-list li.source")).to_have_count(count)
    expect(page.locator('#source-list li.source[data-status="completed"]')).to_have_count(count, timeout=timeout)


def open_chunking(page) -> None:
    page.get_by_role("link", name="Continue to chunking").click()
    expect(page.locator("#preview-stats")).to_be_attached()


def total_chunks(page) -> int:
    return int(page.locator("#preview-stats").get_attribute("data-total-chunks"))


def save_chunking(page) -> None:
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url("**/embedding/")


def save_embedding(page) -> None:
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url("**/review/")


def finalize(page) -> None:
    page.get_by_role("button", name="Finalize and build").click()
    page.wait_for_url("**/kb/*/")


def wait_documents_ready(page, count: int, *, timeout: float = 150_000) -> None:
    """The KB page polls (HTMX) until every document is indexed."""
    expect(page.locator("#documents tr[data-status]")).to_have_count(count)
    expect(page.locator('#documents tr[data-status="ready"]')).to_have_count(count, timeout=timeout)
    expect(page.locator("#kb-status")).to_have_text("ready")


def search(page, query: str):
    """The KB page's retrieval panel; returns the results region once it answered for `query`."""
    page.get_by_label("Query").fill(query)
    page.get_by_role("button", name="Search", exact=True).click()
    results = page.locator("#search-results")
    expect(results).to_contain_text(f"for “{query}”", timeout=60_000)
    return results
