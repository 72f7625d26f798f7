"""Real Chromium, with the Content-Security-Policy on: every kind of page the app serves (dashboard, workspaces,
profile and keys, the KB page and its settings, the retrieval panel, every wizard step, the import page, the
audit page, allauth's pages, the Django admin, the API docs) renders styled, loads htmx, and the browser reports
no CSP violation and no console error (tests/browser/conftest.py `watch`)."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from drafts.services import draft_create, draft_source_add_text
from tests.browser import wizard
from tests.browser.conftest import login
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _assert_clean(page, url: str) -> None:
    assert page.evaluate("getComputedStyle(document.body).margin") == "0px", f"{url}: the stylesheet did not apply"
    assert not page.console_errors, (url, page.console_errors)


def test_every_app_page_renders_under_the_csp(page, owner, workspace, kb):
    owner.is_staff = owner.is_superuser = True
    owner.save(update_fields=["is_staff", "is_superuser"])
    draft = draft_create(workspace=workspace, user=owner, name="Handbook")
    draft_source_add_text(draft=draft, user=owner, title="Hours", content="The office opens at nine. " * 40)
    login(page, "owner", PASSWORD)
    urls = [
        "/",
        "/workspaces/",
        f"/workspaces/{workspace.pk}/",
        f"/workspaces/{workspace.pk}/audit/",
        "/profile/",
        "/profile/api-keys/",
        f"/kb/{kb.pk}/",
        f"/kb/{kb.pk}/settings/",
        f"/kb/{kb.pk}/sharing/",
        f"/kb/{kb.pk}/search/?query=office&mode=keyword&top_k=5",
        f"/kb/{kb.pk}/delete/",
        "/kb/import/",
        "/drafts/new/",
        f"/drafts/{draft.pk}/basics/",
        f"/drafts/{draft.pk}/sources/",
        f"/drafts/{draft.pk}/chunking/",
        f"/drafts/{draft.pk}/embedding/",
        f"/drafts/{draft.pk}/review/",
        "/accounts/password/change/",
    ]
    for url in urls:
        response = page.goto(url)
        assert response.status == 200, url
        assert page.evaluate("typeof htmx") == "object", f"{url}: htmx did not load"
        _assert_clean(page, url)

    # an HTMX swap under the policy: the chunk preview re-renders from the form (debounced POST)
    page.goto(f"/drafts/{draft.pk}/chunking/")
    before = wizard.total_chunks(page)
    page.get_by_label("Chunk size (characters)").fill("300")
    page.get_by_label("Overlap (characters)").fill("30")
    page.wait_for_function(
        "n => Number(document.querySelector('#preview-stats').dataset.totalChunks) > n", arg=before, timeout=30_000
    )
    _assert_clean(page, "chunk preview swap")


def test_error_pages_carry_the_policy_without_violations(page, owner):
    login(page, "owner", PASSWORD)
    response = page.goto(f"/kb/{uuid.uuid4()}/")
    assert response.status == 404
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert not page.csp_violations(), page.csp_violations()


def test_admin_pages_render_under_the_csp(page, owner, workspace, kb):
    owner.is_staff = owner.is_superuser = True
    owner.save(update_fields=["is_staff", "is_superuser"])
    login(page, "owner", PASSWORD)
    for url in (
        "/admin/",
        "/admin/auth/user/",
        f"/admin/auth/user/{owner.pk}/change/",
        "/admin/tenants/organization/",
        f"/admin/tenants/workspace/{workspace.pk}/change/",
        "/admin/kb/knowledgebase/",
        f"/admin/kb/knowledgebase/{kb.pk}/change/",
    ):
        response = page.goto(url)
        assert response.status == 200, url
        expect(page.locator("#site-name")).to_be_visible()
        assert not page.console_errors, (url, page.console_errors)
    page.goto("/admin/auth/user/")
    page.locator("#searchbar").fill("owner")  # admin scripts (actions, filters) run under the policy
    page.locator("#searchbar").press("Enter")
    expect(page.locator("#result_list")).to_contain_text("owner")
    assert not page.console_errors, page.console_errors


def test_api_docs_render_under_their_policy(page, owner):
    login(page, "owner", PASSWORD)
    response = page.goto("/api/v1/docs/")
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]  # Swagger UI: the strict one
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("PrivexBot KB API", timeout=30_000)
    expect(page.locator(".opblock").first).to_be_visible()
    assert not page.console_errors, page.console_errors
    response = page.goto("/api/v1/redoc/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy + ";" and "'unsafe-eval'" not in policy  # scripts stay strict
    expect(page.get_by_role("heading", name="PrivexBot KB API").first).to_be_visible(timeout=30_000)
    # Redoc's bundle always shows the Redocly logo from cdn.redoc.ly: the policy refuses it (nothing is fetched
    # from a third party; the bundle hides the image when it fails). That refusal, and nothing else, is expected.
    page.wait_for_timeout(500)
    blocked = [e for e in page.console_errors if "cdn.redoc.ly/redoc/logo-mini.svg" in e and "img-src" in e]
    assert blocked, "Redoc's logo request was expected: check what the bundle loads now"
    page.console_errors[:] = [e for e in page.console_errors if e not in blocked]
    assert not page.console_errors, page.console_errors


def test_a_throttled_search_says_so_in_the_page(page, owner, kb, settings):
    """htmx swaps the 429 fragment into #alerts (base.html's htmx-config): the message shows, the panel stays."""
    settings.HTML_THROTTLE_HEAVY = "1/min"
    settings.RATELIMIT_CACHE_PREFIX = f"rl-test-{uuid.uuid4().hex}:"
    login(page, "owner", PASSWORD)
    page.goto(f"/kb/{kb.pk}/")
    page.get_by_label("Query").fill("refunds")
    page.get_by_label("Mode").select_option("keyword")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#search-results")).to_contain_text("Nothing matched")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#alerts")).to_contain_text("Too many requests")
    expect(page.locator("#alerts")).to_contain_text("Try again in")
    expect(page.get_by_label("Query")).to_have_value("refunds")  # the form the user filled in is untouched
    refused = [e for e in page.console_errors if "status of 429" in e]
    assert len(refused) == 1  # Chromium logs the refused request itself; nothing else went wrong
    page.console_errors.remove(refused[0])
    assert not page.console_errors, page.console_errors
