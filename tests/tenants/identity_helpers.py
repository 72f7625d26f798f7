"""Helpers the identity tests share: a fresh client address, logging in through the real form, TOTP codes."""

from __future__ import annotations

import random

import pytest
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD


def fresh_ip() -> str:
    """An address no other test (nor an earlier run: allauth's rate limits live in Redis) has used."""
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def post_login(client: Client, username: str, password: str = PASSWORD, *, ip: str | None = None):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip or fresh_ip())


def logged_in_client(username: str, *, ip: str | None = None) -> Client:
    client = Client(REMOTE_ADDR=ip or fresh_ip())
    response = post_login(client, username, ip=client.defaults["REMOTE_ADDR"])
    assert response.status_code == 302, response.content[:500]
    return client


def reauthenticate(client: Client) -> None:
    """allauth asks for the password again before MFA changes (a login does not count as a re-check)."""
    response = client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    assert response.status_code == 302, response.content[:500]


def totp_code(secret: str) -> str:
    import time

    from allauth.mfa import app_settings

    return format_hotp_value(hotp_value(secret, int(time.time()) // app_settings.TOTP_PERIOD))


def enrol_totp(user) -> str:
    """Give `user` a TOTP authenticator directly (as enrolment would); returns its secret."""
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


@pytest.fixture
def fresh_login_limits():
    """allauth keeps its login rate limits in the cache (Redis), which outlives the test database: without
    this, the failures of earlier tests and runs for the same usernames ("owner") would count."""
    from django.conf import settings

    from privexbot.redis import get_client

    def clear():
        client = get_client()
        prefix = settings.CACHES["default"]["KEY_PREFIX"]
        for pattern in (f"{prefix}:*allauth:rl:*", f"{prefix}:*identity:ip-throttle-recorded:*"):
            for key in client.scan_iter(match=pattern):
                client.delete(key)

    clear()
    yield
    clear()
