"""Master keys: how they are written in the environment, what makes one acceptable, and the id a sealed file names
its key by.

A master key is 32 random bytes written in base64 (standard or URL-safe alphabet; `manage.py`'s own generator and
the keys generated under var/secrets/ use the standard one) or, as before, 64 hex digits. What is refused, at
start-up, with the variable named and the key never echoed: any other length, 32 plain characters (the design
guide's placeholder `your-32-byte-encryption-key-here` is exactly that), and keys that decode to 32 bytes that are
plainly not random — a few byte values repeated, a counting sequence, or printable ASCII text (base64 of a
sentence). The chance that 32 random bytes trip one of these tests is below 1e-13.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from django.core.exceptions import ImproperlyConfigured

KEY_BYTES = 32
# The design guide's example value (kb-guide-part2, the .env listing), and its base64 spelling: refused by name.
GUIDE_PLACEHOLDERS = frozenset({"your-32-byte-encryption-key-here", "eW91ci0zMi1ieXRlLWVuY3J5cHRpb24ta2V5LWhlcmU="})
GENERATE_HINT = (
    'generate one with: python -c "import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())"'
)
# 32 random bytes show about 30 distinct values; fewer than this means a pattern ("aaaa…", "abab…", "0123" × 8).
_MIN_DISTINCT_BYTES = 16


def _decode(text: str) -> bytes | None:
    """The 32 bytes a key spells, or None when it is not base64 or hex of exactly 32 bytes."""
    if len(text) == 2 * KEY_BYTES:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    altchars = b"-_" if "-" in text or "_" in text else None
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == KEY_BYTES else None


def weakness(raw: bytes) -> str | None:
    """Why 32 decoded bytes are not a random key, or None when nothing shows."""
    if len(set(raw)) < _MIN_DISTINCT_BYTES:
        return "it repeats a few byte values"
    steps = {(b - a) % 256 for a, b in zip(raw, raw[1:], strict=False)}
    if len(steps) == 1:
        return "its bytes count up or down"
    if all(0x20 <= b < 0x7F for b in raw):
        return "it is text, not random bytes"
    return None


def _decode_key(text: str, setting: str) -> bytes:
    text = text.strip()
    if text in GUIDE_PLACEHOLDERS:
        raise ImproperlyConfigured(f"{setting} is the design guide's placeholder, not a key: {GENERATE_HINT}")
    raw = _decode(text)
    if raw is None:
        raise ImproperlyConfigured(
            f"{setting} entries must be 32 random bytes written in base64 (44 characters) or hex (64); "
            f"plain text is not accepted: {GENERATE_HINT}"
        )
    if reason := weakness(raw):
        raise ImproperlyConfigured(f"{setting} holds a weak key ({reason}): {GENERATE_HINT}")
    return raw


def check_signing_secret(value: str | None, setting: str) -> None:
    """An HMAC secret used as text (RECEIPT_SIGNING_KEY): any long random string, so the format is free, but the
    guide's placeholder, short values and patterns are refused the same way as a master key."""
    if not value:
        return
    text = value.strip()
    if text in GUIDE_PLACEHOLDERS:
        raise ImproperlyConfigured(f"{setting} is the design guide's placeholder, not a key: {GENERATE_HINT}")
    if len(text) < KEY_BYTES or len(set(text)) < _MIN_DISTINCT_BYTES:
        raise ImproperlyConfigured(
            f"{setting} must be a random string of at least 32 characters (not a word or a pattern): {GENERATE_HINT}"
        )


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"privexbot-key-id" + key).digest()[:8]


def parse_keyring(value: str | None, setting: str = "ENCRYPTION_KEY") -> list[bytes]:
    """Keys written "new,old,…": the first one encrypts, every one decrypts. `setting` names it in errors."""
    if not value:
        return []
    return [_decode_key(part, setting) for part in value.split(",") if part.strip()]
