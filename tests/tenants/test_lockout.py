"""Lockout per account (django-axes) and throttling per address (allauth), on the login and the admin login."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.db.models import F, Max
from django.test import Client
from django.urls import reverse

from privexbot.models import AuditEvent
from tests.conftest import PASSWORD, make_user
from tests.tenants.identity_helpers import (
    fresh_ip,
    fresh_login_limits,  # noqa: F401  (autouse below)
    post_login,
)


@pytest.fixture(autouse=True)
def _limits(fresh_login_limits):  # noqa: F811
    pass


def _fail(username: str, times: int, *, ip: str | None = None):
    for _ in range(times):
        response = post_login(Client(), username, "wrong password", ip=ip)
    return response


def test_ten_wrong_passwords_lock_the_account_and_the_right_one_is_refused_with_a_retry_time(owner, settings):
    assert settings.AXES_FAILURE_LIMIT == 10
    assert _fail("owner", 9).status_code == 200  # nine: still the form with its error
    locking = _fail("owner", 1)  # from yet another address: the count is per account
    assert locking.status_code == 429
    refused = post_login(Client(), "owner", PASSWORD)
    assert refused.status_code == 429
    html = refused.content.decode()
    assert "Account locked" in html and "Try again in 15 minutes" in html
    assert int(refused["Retry-After"]) == 15 * 60
    assert not Client().session.get("_auth_user_id")
    events = AuditEvent.objects.filter(event_type="auth", action="lockout")
    assert events.count() == 1  # the refused attempts after it are not new lockouts
    event = events.get()
    assert event.username == "owner" and event.details["scope"] == "account" and event.details["ip"]
    assert event.details["failures"] == 10 and event.success is False


def _last_failure(username: str):
    return AccessAttempt.objects.filter(username=username).aggregate(last=Max("attempt_time"))["last"]


def test_attempts_while_locked_do_not_extend_the_cool_down(owner):
    _fail("owner", 10)
    first = _last_failure("owner")
    _fail("owner", 3)
    assert _last_failure("owner") == first


def test_the_lock_ends_after_the_cool_down(owner, settings):
    _fail("owner", 10)
    assert post_login(Client(), "owner", PASSWORD).status_code == 429
    AccessAttempt.objects.filter(username="owner").update(
        attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )
    response = post_login(Client(), "owner", PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("home")


def test_an_administrator_unlocks_with_the_axes_command(owner):
    _fail("owner", 10)
    assert post_login(Client(), "owner", PASSWORD).status_code == 429
    call_command("axes_reset_username", "owner")
    assert post_login(Client(), "owner", PASSWORD).status_code == 302


def test_a_lock_of_one_account_leaves_the_others_alone(owner, member):
    _fail("owner", 10)
    assert post_login(Client(), "member", PASSWORD).status_code == 302


def test_success_resets_the_failure_count(owner):
    _fail("owner", 9)
    assert post_login(Client(), "owner", PASSWORD).status_code == 302
    assert _fail("owner", 9).status_code == 200  # nine more are not ten in a row


def test_failures_across_many_accounts_from_one_address_are_throttled(db, settings):
    settings.LOGIN_IP_FAILURE_LIMIT = 5
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "5/600s/ip,20/900s/key"}
    for i in range(6):
        make_user(f"user{i}")
    ip = fresh_ip()
    for i in range(5):  # one wrong password each: no account comes near its own limit
        assert post_login(Client(), f"user{i}", "wrong password", ip=ip).status_code == 200
    throttled = post_login(Client(), "user5", PASSWORD, ip=ip)  # even a right password from this address
    assert throttled.status_code == 200 and b"Too many failed login attempts" in throttled.content
    assert not AccessAttempt.objects.filter(username="user5").exists()  # refused before any password check
    assert post_login(Client(), "user5", PASSWORD, ip=fresh_ip()).status_code == 302  # other addresses log in
    post_login(Client(), "user4", PASSWORD, ip=ip)
    event = AuditEvent.objects.get(event_type="auth", action="lockout")  # once per window, not per attempt
    assert event.details["scope"] == "ip" and event.details["ip"] == ip and event.ip_address == ip


def test_the_admin_login_is_the_same_login_with_the_same_lockout(owner):
    owner.is_staff = True
    owner.save()
    anonymous = Client().get("/admin/", follow=True)
    assert anonymous.redirect_chain[-1][0] == reverse("login") + "?next=%2Fadmin%2F"
    _fail("owner", 10)
    assert post_login(Client(), "owner", PASSWORD).status_code == 429
    assert Client().post("/admin/login/", {"username": "owner", "password": PASSWORD}).status_code == 302
    assert "_auth_user_id" not in Client().session  # the admin's own form is gone: it only redirects


def test_lockouts_are_counted(owner):
    from privexbot.metrics.definitions import LOCKOUTS

    before = LOCKOUTS.labels(channel="login")._value.get()
    _fail("owner", 10)
    assert LOCKOUTS.labels(channel="login")._value.get() == before + 1
