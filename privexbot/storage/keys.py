"""Master keys: how they are written in the environment, and the id a sealed file names its key by."""

from __future__ import annotations

import base64
import binascii
import hashlib

from django.core.exceptions import ImproperlyConfigured


def _decode_key(text: str, setting: str) -> bytes:
    text = text.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_" if "-" in text or "_" in text else None)
        if len(raw) == 32:
            return raw
    except (binascii.Error, ValueError):
        pass
    if len(text.encode()) == 32:
        return text.encode()
    raise ImproperlyConfigured(
        f"{setting} entries must be 32 bytes: base64 (44 chars), hex (64 chars) or 32 raw characters"
    )


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"privexbot-key-id" + key).digest()[:8]


def parse_keyring(value: str | None, setting: str = "ENCRYPTION_KEY") -> list[bytes]:
    """Keys written "new,old,…": the first one encrypts, every one decrypts. `setting` names it in errors."""
    if not value:
        return []
    return [_decode_key(part, setting) for part in value.split(",") if part.strip()]
