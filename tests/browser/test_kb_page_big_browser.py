"""Real Chromium on the KB page of a big KB (issue 16), with the Content-Security-Policy on (the `page` fixture fails
on any violation): tick every document of a page, disable them through the confirmation, enable one with its
HTMX button, page on with the filter kept, and a poll that waits while documents are ticked."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from kb.models import Document
from tests.browser.conftest import login
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def make_documents(kb, count: int, **fields) -> None:
    Document.objects.bulk_create(
        Document(kb=kb, name=f"Manual {i:03d}", source_type="file_upload", status="ready", progress=100, **fields)
        for i in range(count)
    )


def test_select_a_page_disable_through_the_confirmation_and_enable_one(page, owner, kb):
    make_documents(kb, 120)
    login(page, "owner", PASSWORD)
    page.goto(f"/kb/{kb.pk}/?q=manual")
    expect(page.locator("#page-range")).to_have_text("1–50 of 120")
    page.get_by_label("Tick every document on this page").check()
    expect(page.locator('input[name="document_ids"]:checked')).to_have_count(50)
    page.get_by_role("button", name="Disable…").click()
    expect(page.get_by_role("heading", name="Disable 50 documents?")).to_be_visible()
    page.get_by_role("button", name="Disable 50 documents").click()
    expect(page.locator(".messages")).to_contain_text("50 documents disabled")
    assert page.url.endswith("?q=manual")
    assert Document.objects.filter(kb=kb, enabled=False).count() == 50

    first = Document.objects.filter(kb=kb, enabled=False).order_by("created_at", "name").first()
    page.get_by_role("button", name=f"Enable {first.name}").click()  # an HTMX swap of the list
    expect(page.locator(f"#doc-{first.pk}")).to_have_attribute("data-enabled", "true")
    assert Document.objects.get(pk=first.pk).enabled

    page.get_by_role("link", name="Next ›").click()
    expect(page.locator("#page-range")).to_have_text("51–100 of 120")
    assert "q=manual" in page.url and page.get_by_label("Name contains").input_value() == "manual"


def test_the_poll_waits_while_documents_are_ticked(page, owner, kb):
    make_documents(kb, 3)
    Document.objects.create(kb=kb, name="Busy", source_type="text_input", status="embedding", progress=50)
    login(page, "owner", PASSWORD)
    page.goto(f"/kb/{kb.pk}/")
    expect(page.locator("#documents")).to_have_attribute("data-polling", "true")
    page.get_by_label("Tick Manual 000").check()
    Document.objects.filter(name="Busy").update(status="ready", progress=100)
    page.wait_for_timeout(4500)  # two poll periods: held back, so the tick stays
    expect(page.get_by_label("Tick Manual 000")).to_be_checked()
    expect(page.locator("#documents")).to_have_attribute("data-polling", "true")
    page.get_by_label("Tick Manual 000").uncheck()
    expect(page.locator("#documents")).to_have_attribute("data-polling", "false", timeout=10_000)
