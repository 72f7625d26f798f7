"""Real Chromium, issue 13's whole path: an owner invites a colleague by email (read from the file backend), the
colleague accepts with a new account, enrols TOTP (the test computes the code), logs in with it, sees only that
workspace; the owner removes them, and their next page request and their API key are refused."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect
from rest_framework.test import APIClient

from tenants.tokens import api_token_create
from tests.browser.conftest import CHROMIUM_ARGS, login, watch  # noqa: F401  (CHROMIUM_ARGS: same flags as `page`)
from tests.tenants.identity_helpers import fresh_login_limits, totp_code  # noqa: F401  (fixture used below)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.usefixtures("fresh_login_limits")]
COLLEAGUE_PASSWORD = "violet harbour lantern 2026"


@pytest.fixture
def email_files(settings, tmp_path):
    """The file email backend (Django's test set-up swaps in locmem; production-like here)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    return lambda: "\n".join(p.read_text() for p in sorted((tmp_path / "mail").iterdir()))


def _confirm_password(tab, password: str) -> None:
    expect(tab.get_by_role("heading", name="Confirm your password")).to_be_visible()
    tab.get_by_label("Password").fill(password)
    tab.get_by_role("button", name="Confirm").click()


def _key_status(key: str, path: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client.get(path).status_code


def test_invite_accept_enrol_totp_log_in_and_removal(
    page, browser, live_server, owner, workspace, kb, outsider, email_files
):
    login(page, "owner", "correct horse battery staple")
    page.goto(f"/workspaces/{workspace.pk}/")
    page.get_by_label("Email").fill("colleague@example.com")
    page.get_by_label("Role").select_option("editor")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator("#invitations")).to_contain_text("colleague@example.com")
    link = re.search(r"https?://\S+/invitations/[^\s/]+/", email_files()).group(0)

    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    tab = watch(context.new_page())
    tab.goto(link)
    tab.get_by_label("Username").fill("colleague")
    tab.get_by_label("Password", exact=True).fill(COLLEAGUE_PASSWORD)
    tab.get_by_label("Password (again)").fill(COLLEAGUE_PASSWORD)
    tab.get_by_role("button", name="Create account and join").click()
    tab.wait_for_url(lambda url: "/invitations/" not in url)
    colleague = get_user_model().objects.get(username="colleague")
    assert colleague.email == "colleague@example.com"

    tab.goto("/profile/")
    tab.get_by_role("link", name="Set up an authenticator app").click()
    _confirm_password(tab, COLLEAGUE_PASSWORD)
    secret = tab.get_by_label("Authenticator secret").input_value()
    tab.get_by_label("Authenticator code").fill(totp_code(secret))
    tab.get_by_role("button", name="Activate").click()
    tab.wait_for_url("**/accounts/2fa/recovery-codes/")
    tab.get_by_role("button", name="Log out").click()
    tab.wait_for_url("**/login/")
    tab.get_by_label("Username").fill("colleague")
    tab.get_by_label("Password").fill(COLLEAGUE_PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_url("**/accounts/2fa/authenticate/")  # the password alone is not enough now
    tab.get_by_label("Code", exact=True).fill(totp_code(secret))
    tab.get_by_role("button", name="Verify").click()
    tab.wait_for_url(re.compile(r"/$"))
    expect(tab.get_by_role("heading", name="Support")).to_be_visible()  # the workspace they joined
    expect(tab.locator("main")).not_to_contain_text("Globex")  # and nothing of another organization
    assert tab.goto(f"/kb/{kb.pk}/").status == 200

    _, key = api_token_create(user=colleague, name="chatbot", scopes=["read"])
    assert _key_status(key, f"/api/v1/knowledge-bases/{kb.pk}/") == 200

    page.goto(f"/workspaces/{workspace.pk}/")
    page.once("dialog", lambda dialog: dialog.accept())  # hx-confirm
    page.get_by_role("button", name="Remove colleague").click()
    expect(page.locator("#members")).not_to_contain_text("colleague")

    assert tab.goto(f"/kb/{kb.pk}/").status == 404  # their very next request
    assert _key_status(key, f"/api/v1/knowledge-bases/{kb.pk}/") == 404
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/api/v1/workspaces/").json() == []  # the key reaches no workspace any more
    assert not page.console_errors, page.console_errors
    assert not tab.csp_violations(), tab.csp_violations()
    context.close()
