"""Signing deletion receipts (privexbot.models.DeletionReceipt): HMAC-SHA256 over the canonical JSON of the body.

HMAC rather than Ed25519: receipts are checked by this installation (`manage.py verify_deletion`, the API
serves them to the workspace that owns them), so a shared secret needs no key pair to generate, back up and
protect beside ENCRYPTION_KEY and BACKUP_KEY. The key is RECEIPT_SIGNING_KEY, or one derived from SECRET_KEY
under its own purpose string (never SECRET_KEY itself), so a receipt signature is useless as any other token.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from django.conf import settings

ALGORITHM = "hmac-sha256"


def canonical(body: dict) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _key() -> bytes:
    if settings.RECEIPT_SIGNING_KEY:
        return settings.RECEIPT_SIGNING_KEY.encode("utf-8")
    return hmac.new(settings.SECRET_KEY.encode("utf-8"), b"privexbot.deletion-receipt.v1", hashlib.sha256).digest()


def receipt_sign(body: dict) -> str:
    return f"{ALGORITHM}:{hmac.new(_key(), canonical(body), hashlib.sha256).hexdigest()}"


def receipt_signature_valid(body: dict, signature: str) -> bool:
    return hmac.compare_digest(receipt_sign(body), signature or "")


def receipt_document(receipt) -> dict:
    """The downloadable form: the signed body and its signature (what verify_deletion reads back)."""
    return {"receipt": receipt.body, "signature": receipt.signature}
