"""Real Chromium: a user enrols TOTP on the profile page (the test computes the code from the secret the page
shows), logs out, and logs in with password and code; with "MFA required", a member without MFA is sent to
enrolment from the app and from the admin."""

from __future__ import annotations

import re

import pytest
from allauth.mfa.models import Authenticator
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.conftest import PASSWORD
from tests.tenants.identity_helpers import fresh_login_limits, totp_code  # noqa: F401  (fixture used below)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.usefixtures("fresh_login_limits")]


def _password_login(page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def _confirm_password(page) -> None:
    expect(page.get_by_role("heading", name="Confirm your password")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm").click()


def test_enrol_totp_on_the_profile_then_log_in_with_the_code(page, owner):
    _password_login(page, "owner")
    page.wait_for_url("**/")
    page.get_by_role("link", name="owner").click()  # the header links to the profile
    expect(page.get_by_role("heading", name="Profile")).to_be_visible()
    expect(page.locator("section", has_text="Two-factor authentication")).to_contain_text("Off")
    page.get_by_role("link", name="Set up an authenticator app").click()
    _confirm_password(page)

    expect(page.get_by_role("heading", name="Set up two-factor authentication")).to_be_visible()
    secret = page.get_by_label("Authenticator secret").input_value()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    screenshot(page, "mfa-enrol")
    page.get_by_label("Authenticator code").fill(totp_code(secret))
    page.get_by_role("button", name="Activate").click()
    page.wait_for_url("**/accounts/2fa/recovery-codes/")
    assert Authenticator.objects.filter(user=owner, type=Authenticator.Type.TOTP).exists()
    page.goto("/profile/")
    expect(page.locator("section", has_text="Two-factor authentication")).to_contain_text("On")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login/")
    _password_login(page, "owner")
    page.wait_for_url("**/accounts/2fa/authenticate/")  # the password alone is not a login
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    page.get_by_label("Code", exact=True).fill(totp_code(secret))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", name="Support")).to_be_visible()
    assert not page.console_errors, page.console_errors


def test_mfa_required_sends_a_member_without_mfa_to_enrolment_from_the_app_and_the_admin(page, org, member, kb):
    org.mfa_required = True
    org.save(update_fields=["mfa_required"])
    member.is_staff = True
    member.save(update_fields=["is_staff"])

    _password_login(page, "member")
    page.wait_for_url(re.compile(r"/accounts/reauthenticate/\?next=%2Faccounts%2F2fa%2Ftotp%2Factivate%2F"))
    for url in ("/", f"/kb/{kb.pk}/", "/profile/", "/admin/", "/admin/tenants/organization/"):
        page.goto(url)
        page.wait_for_url(re.compile(r"/accounts/reauthenticate/\?next=%2Faccounts%2F2fa%2Ftotp%2Factivate%2F"))
    _confirm_password(page)
    expect(page.get_by_role("heading", name="Set up two-factor authentication")).to_be_visible()
    page.goto("/admin/")
    page.wait_for_url("**/accounts/2fa/totp/activate/")  # confirmed once: straight to enrolment now
    screenshot(page, "mfa-required")

    secret = page.get_by_label("Authenticator secret").input_value()
    page.get_by_label("Authenticator code").fill(totp_code(secret))
    page.get_by_role("button", name="Activate").click()
    page.wait_for_url("**/accounts/2fa/recovery-codes/")
    page.goto("/admin/")
    expect(page.get_by_text("Site administration")).to_be_visible()  # enrolled: the admin opens
    page.goto("/")
    expect(page.get_by_role("heading", name="Support")).to_be_visible()
