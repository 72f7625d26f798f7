"""Master keys must be 32 random bytes: the design guide's placeholder and plainly weak keys stop start-up with a
message naming the variable, and never echo the key."""

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from privexbot.storage.keys import check_signing_secret, parse_keyring

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = "your-32-byte-encryption-key-here"  # kb-guide-part2.md, the .env listing


def _b64(raw: bytes, *, urlsafe: bool = False) -> str:
    return (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()


def _random_key_with(char: str) -> bytes:
    """32 random bytes whose base64 spelling contains `char` ('+' or '/', '-' or '_' once URL-safe)."""
    while True:
        raw = secrets.token_bytes(32)
        if char in _b64(raw):
            return raw


def test_random_keys_in_every_accepted_spelling_are_accepted():
    raw = _random_key_with("/")
    assert parse_keyring(_b64(raw)) == [raw]
    assert parse_keyring(_b64(raw, urlsafe=True)) == [raw]
    assert parse_keyring(_b64(raw).rstrip("=")) == [raw]  # padding may be left off
    assert parse_keyring(raw.hex()) == [raw]
    other = secrets.token_bytes(32)
    assert parse_keyring(f"{_b64(raw)}, {_b64(other)}") == [raw, other]


def test_a_key_generated_under_var_secrets_stays_valid():
    # settings._dev_secret writes exactly this for ENCRYPTION_KEY in a DEBUG run.
    generated = base64.b64encode(secrets.token_bytes(32)).decode()
    assert len(parse_keyring(generated)) == 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (PLACEHOLDER, "design guide's placeholder"),
        (_b64(PLACEHOLDER.encode()), "design guide's placeholder"),
        ("x" * 32, "must be 32 random bytes"),  # 32 plain characters: no longer a key
        ("too-short", "must be 32 random bytes"),
        (_b64(secrets.token_bytes(16)), "must be 32 random bytes"),
        (_b64(secrets.token_bytes(48)), "must be 32 random bytes"),
        ("not base64 at all, but forty-four chars!!!!", "must be 32 random bytes"),
        (_b64(b"\x00" * 32), "repeats a few byte values"),
        ("aa" * 32, "repeats a few byte values"),  # hex of one byte
        (_b64(b"abcd" * 8), "repeats a few byte values"),
        (_b64(bytes(range(100, 132))), "count up or down"),
        (_b64(b"test-only-key-32-bytes-long-key!"), "weak key"),  # the old test key: base64 of a phrase
        (_b64(b"Pack my box with five dozen jugs"), "is text"),
        (b"Pack my box with five dozen jugs".hex(), "is text"),
    ],
)
def test_placeholder_malformed_and_weak_keys_are_refused_without_echoing(value, reason):
    with pytest.raises(ImproperlyConfigured, match=reason) as caught:
        parse_keyring(value, "BACKUP_KEY")
    message = str(caught.value)
    assert message.startswith("BACKUP_KEY ")
    assert value not in message or value == PLACEHOLDER and "placeholder" in message
    assert "secrets.token_bytes(32)" in message  # says how to make a good one


def test_one_weak_key_in_a_ring_is_refused():
    with pytest.raises(ImproperlyConfigured, match="ENCRYPTION_KEY holds a weak key"):
        parse_keyring(f"{_b64(secrets.token_bytes(32))},{_b64(b'A' * 32)}")


def test_signing_secret_rules():
    check_signing_secret(None, "RECEIPT_SIGNING_KEY")
    check_signing_secret(secrets.token_urlsafe(32), "RECEIPT_SIGNING_KEY")
    for weak in (PLACEHOLDER, "short-secret", "ab" * 30):
        with pytest.raises(ImproperlyConfigured, match="RECEIPT_SIGNING_KEY"):
            check_signing_secret(weak, "RECEIPT_SIGNING_KEY")


def _start(tmp_path, **overrides):
    env = {k: v for k, v in os.environ.items() if k not in {"ENCRYPTION_KEY", "BACKUP_KEY", "RECEIPT_SIGNING_KEY"}}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "privexbot.settings",
            "PRIVEXBOT_VAR_DIR": str(tmp_path / "var"),
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ENCRYPTION_KEY": _b64(secrets.token_bytes(32)),
        }
    )
    env.update(overrides)
    code = "import django; django.setup(); print('started')"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ENCRYPTION_KEY", PLACEHOLDER),
        ("ENCRYPTION_KEY", f"{_b64(secrets.token_bytes(32))},{PLACEHOLDER}"),  # the OLD of NEW,OLD too
        ("BACKUP_KEY", _b64(b"\xff" * 32)),
        ("RECEIPT_SIGNING_KEY", PLACEHOLDER),
    ],
)
def test_startup_refuses_the_placeholder_and_weak_keys_naming_the_variable(tmp_path, variable, value):
    result = _start(tmp_path, **{variable: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{variable} " in result.stderr.strip().splitlines()[-1]
    assert "started" not in result.stdout


def test_startup_with_random_keys_starts(tmp_path):
    result = _start(
        tmp_path,
        BACKUP_KEY=_b64(secrets.token_bytes(32), urlsafe=True),
        RECEIPT_SIGNING_KEY=secrets.token_urlsafe(40),
    )
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout
