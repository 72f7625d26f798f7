"""A document whose text carries <script>, inline handlers and htmx attributes stays text everywhere it is
shown (source preview, chunk preview after an htmx swap, documents list, retrieval results): nothing runs and
no request leaves for the attacker's URLs."""

import pytest
from playwright.sync_api import expect

from drafts.services import draft_create
from tests.browser.conftest import login
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAYLOAD = """Payload handbook about parcel lockers and their opening codes.
<script>window.__xss = 1; fetch('/__probe__/script')</script>
<img src="/__probe__/img" onerror="window.__xss = 2">
<div hx-get="/__probe__/hx-get" hx-trigger="load" hx-swap="outerHTML">htmx load trigger</div>
<button hx-post="/__probe__/hx-post" hx-trigger="load">htmx post</button>
<form hx-on::load="window.__xss = 3"><input autofocus onfocus="window.__xss = 4"></form>
<svg onload="window.__xss = 5"></svg>
Parcel lockers open with a six digit code that expires after three days.
"""
FILENAME = "lockers-<img src=x onerror=window.__xss=6>.txt"


def assert_inert(page, probes):
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert not probes, probes
    assert not page.console_errors, page.console_errors


def test_markup_in_documents_never_executes(page, worker_process, owner, workspace):
    worker_process()
    probes = []
    page.on("request", lambda request: "__probe__" in request.url and probes.append(request.url))
    draft = draft_create(workspace=workspace, user=owner, name="Lockers")
    login(page, "owner", PASSWORD)

    page.goto(f"/drafts/{draft.pk}/sources/")
    # dropped onto the drop zone (static/js/app.js puts it in the file input and sends the form)
    transfer = page.evaluate_handle(
        """([name, text]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], name, {type: "text/plain"}));
            return transfer;
        }""",
        [FILENAME, PAYLOAD],
    )
    page.dispatch_event("[data-dropzone]", "drop", {"dataTransfer": transfer})
    expect(page.locator("#file-form")).to_contain_text("being read now")
    expect(page.locator('#source-list li.source[data-status="completed"]')).to_have_count(1, timeout=60_000)
    page.locator("#source-list summary", has_text="Content preview").click()
    expect(page.locator("#source-list .preview-text")).to_contain_text("<script>window.__xss = 1;")
    expect(page.locator("#source-list")).to_contain_text(
        "lockers-<img src=x onerror=window.__xss=6>.txt"
    )  # the name, as text
    assert_inert(page, probes)

    page.goto(f"/drafts/{draft.pk}/chunking/")
    # the markup is shown as text, in whichever chunk the fit to the model's window put it
    expect(page.locator("#preview .chunk", has_text='hx-get="/__probe__/hx-get"').first).to_be_visible()
    page.get_by_label("Chunk size (characters)").fill("200")
    page.get_by_label("Overlap (characters)").fill("0")
    page.wait_for_function("() => Number(document.querySelector('#preview-stats').dataset.totalChunks) > 1")
    page.wait_for_timeout(500)  # let htmx settle the swapped fragment
    expect(page.locator("#preview .chunk .text", has_text="window.__xss").first).to_be_visible()
    assert_inert(page, probes)

    page.goto(f"/drafts/{draft.pk}/review/")
    page.get_by_role("button", name="Finalize and build").click()
    page.wait_for_url("**/kb/*/")
    expect(page.locator('#documents tr[data-status="ready"]')).to_have_count(1, timeout=120_000)
    assert_inert(page, probes)

    page.get_by_label("Query").fill("parcel lockers script")
    page.get_by_label("Mode").select_option("keyword")
    page.get_by_role("button", name="Search", exact=True).click()
    results = page.locator("#search-results")
    expect(results.locator("li.result").first).to_contain_text("window.__xss")
    expect(results.locator("mark", has_text="script").first).to_be_visible()
    page.wait_for_timeout(500)
    assert_inert(page, probes)
