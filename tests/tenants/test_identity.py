"""Identity over the test client: login (allauth), password policy, change and reset, sessions, profile."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from privexbot.models import AuditEvent
from tenants.identity import sessions
from tests.conftest import PASSWORD
from tests.tenants.identity_helpers import (
    fresh_login_limits,  # noqa: F401  (autouse below)
    logged_in_client,
    post_login,
)

NEW_PASSWORD = "violet tractor umbrella 42"


@pytest.fixture(autouse=True)
def _limits(fresh_login_limits):  # noqa: F811
    pass


def _logged_in(client: Client) -> bool:
    return client.get(reverse("home")).status_code == 200


# ---------------------------------------------------------------- login page and sign-up
def test_login_page_has_the_labels_and_button_the_browser_tests_use(client, db):
    html = client.get(reverse("login")).content.decode()
    assert '<label for="id_username">Username</label>' in html
    assert '<label for="id_password">Password</label>' in html
    assert '<button class="primary" type="submit">Log in</button>' in html
    assert reverse("account_reset_password") in html


def test_login_by_username_goes_to_the_dashboard_and_logout_is_post(owner):
    client = Client()
    response = post_login(client, "owner")
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert _logged_in(client)
    assert client.get(reverse("logout")).status_code == 200  # a confirmation page: GET never logs out
    assert _logged_in(client)
    assert client.post(reverse("logout")).status_code == 302
    assert not _logged_in(client)


def test_wrong_password_is_refused_and_audited(owner):
    client = Client()
    response = post_login(client, "owner", "not the password")
    assert response.status_code == 200 and b"not correct" in response.content
    assert AuditEvent.objects.filter(action="login_failed", username="owner", success=False).exists()


def test_strangers_cannot_sign_up(client, db):
    response = client.post(
        reverse("account_signup"),
        {"username": "stranger", "email": "s@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 200 and b"closed" in response.content.lower()
    assert not get_user_model().objects.filter(username="stranger").exists()


def test_signup_opens_for_a_session_holding_an_invitation(client, db):
    from tenants.identity.adapter import INVITATION_SESSION_KEY

    session = client.session
    session[INVITATION_SESSION_KEY] = "an-invitation-id"
    session.save()
    response = client.post(
        reverse("account_signup"),
        {"username": "invited", "email": "i@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert get_user_model().objects.filter(username="invited").exists()


# ---------------------------------------------------------------- password policy, change and reset
@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short pass", "at least 12 characters"),
        ("123456789012345", "entirely numeric"),
        ("password1234", "too common"),
        ("owner@example.com1", "too similar"),
    ],
)
def test_password_policy_applies_to_allauth_forms(owner, password, reason):
    client = logged_in_client("owner")
    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": password, "password2": password},
    )
    assert response.status_code == 200 and reason in response.content.decode()
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


def test_password_change_ends_the_other_sessions_and_keeps_this_one(owner):
    this, other = logged_in_client("owner"), logged_in_client("owner")
    response = this.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert _logged_in(this)
    assert not _logged_in(other)
    assert AuditEvent.objects.filter(event_type="authentication", action="password_change", user=owner).exists()


@pytest.fixture
def email_files(settings, tmp_path):
    """The file email backend of settings_test (Django's test set-up swaps in locmem; put it back)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)

    def read() -> str:
        return "\n".join(p.read_text() for p in sorted(tmp_path.iterdir()))

    return read


def test_password_reset_by_email_link(owner, email_files):
    other = logged_in_client("owner")
    client = Client()
    assert client.post(reverse("account_reset_password"), {"email": "owner@example.com"}).status_code == 302
    mail = email_files()
    assert "owner@example.com" in mail and "[PrivexBot KB]" in mail
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+/)", mail).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200 and b"Choose a new password" in form_page.content
    action = form_page.redirect_chain[-1][0] if form_page.redirect_chain else link
    done = client.post(action, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert done.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)
    assert not _logged_in(other)  # the reset ends every open session
    assert AuditEvent.objects.filter(action="password_reset", user=owner).exists()
    again = client.get(link, follow=True)  # the link works once
    assert b"no longer valid" in again.content


def test_password_reset_for_an_unknown_address_sends_nothing_and_says_the_same(db, email_files):
    response = Client().post(reverse("account_reset_password"), {"email": "nobody@example.com"})
    assert response.status_code == 302 and response["Location"] == reverse("account_reset_password_done")
    assert "password/reset/key" not in email_files()


# ---------------------------------------------------------------- sessions
def _age(client: Client, *, auth_by: float = 0, seen_by: float = 0) -> None:
    session = client.session
    session[sessions.AUTH_AT] -= auth_by
    session[sessions.SEEN_AT] -= seen_by
    session.save()


def test_idle_session_ends_and_is_audited(owner, settings):
    client = logged_in_client("owner")
    _age(client, auth_by=settings.SESSION_IDLE_TIMEOUT - 30, seen_by=settings.SESSION_IDLE_TIMEOUT - 30)
    assert _logged_in(client)  # used within the timeout: goes on, and the use is remembered
    _age(client, seen_by=settings.SESSION_IDLE_TIMEOUT + 1)
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    event = AuditEvent.objects.get(action="session_ended")
    assert event.details["reason"] == "idle"


def test_session_ends_at_the_absolute_age_however_busy(owner, settings):
    client = logged_in_client("owner")
    _age(client, auth_by=settings.SESSION_COOKIE_AGE + 1)  # seen a moment ago, logged in too long ago
    assert not _logged_in(client)
    assert AuditEvent.objects.get(action="session_ended").details["reason"] == "expired"


def test_idle_session_on_an_htmx_request_redirects_the_whole_page(owner, settings, kb):
    client = logged_in_client("owner")
    _age(client, seen_by=settings.SESSION_IDLE_TIMEOUT + 1)
    response = client.get(reverse("kb:detail", args=[kb.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and response["HX-Redirect"] == reverse("login")


def test_sign_out_everywhere_ends_other_sessions_and_keeps_this_one(owner):
    this, other = logged_in_client("owner"), logged_in_client("owner")
    response = this.post(reverse("sign-out-everywhere"))
    assert response.status_code == 302
    assert _logged_in(this)
    assert not _logged_in(other)
    assert AuditEvent.objects.filter(action="sign_out_everywhere", user=owner).exists()
    again = logged_in_client("owner")  # a new login after the cut-off is fine
    assert _logged_in(again)


def test_force_login_sessions_pass_the_policy(client, owner):
    client.force_login(owner)  # the test suite's way in: stamped by the login signal like any other
    assert _logged_in(client)


# ---------------------------------------------------------------- profile
def test_profile_shows_account_mfa_sessions_and_api_keys(owner):
    client = logged_in_client("owner")
    html = client.get(reverse("profile")).content.decode()
    for text in ("owner@example.com", reverse("account_change_password"), reverse("mfa_activate_totp"),
                 reverse("sign-out-everywhere"), "/profile/api-keys/", "Off"):  # fmt: skip
        assert text in html, text


def test_profile_update_is_audited_with_before_and_after(owner, member):
    client = logged_in_client("owner")
    response = client.post(reverse("profile"), {"first_name": "Olga", "last_name": "Owner", "email": "o@example.org"})
    assert response.status_code == 302
    owner.refresh_from_db()
    assert (owner.first_name, owner.email) == ("Olga", "o@example.org")
    event = AuditEvent.objects.get(action="profile_update")
    assert event.details["before"]["email"] == "owner@example.com"
    assert event.details["after"]["email"] == "o@example.org"
    taken = client.post(reverse("profile"), {"first_name": "", "last_name": "", "email": "member@example.com"})
    assert taken.status_code == 200 and b"Another account uses this email" in taken.content


def test_profile_needs_login(client, db):
    response = client.get(reverse("profile"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_the_header_links_to_the_profile(owner):
    html = logged_in_client("owner").get(reverse("home")).content.decode()
    assert f'href="{reverse("profile")}"' in html
