"""The audit log outlives the content it describes, so it never holds content. A search query is recorded as a
keyed hash (equal queries give equal hashes, so repeated searches can be correlated, but the text cannot be
recovered or confirmed without the server's SECRET_KEY), its length and its mode."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings


def _key() -> bytes:
    # Derived, so the audit hash key is never the SECRET_KEY itself (nor usable as a Django signature).
    return hmac.new(settings.SECRET_KEY.encode(), b"privexbot.audit.query-hash", hashlib.sha256).digest()


def query_fingerprint(query: str, *, mode: str) -> dict:
    digest = hmac.new(_key(), query.encode("utf-8"), hashlib.sha256).hexdigest()
    return {"query_hmac": digest, "query_chars": len(query), "mode": mode}
