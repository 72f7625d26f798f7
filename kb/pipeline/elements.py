"""Parsed elements at rest: gzip JSON, encrypted by the storage like every stored file.

Parsed once (draft source or first run), then reused by previews, retries and re-indexing.
"""

from __future__ import annotations

import gzip
import json

from kb.pipeline.types import Element


def elements_save(elements: list[Element] | list[dict]) -> str:
    from privexbot.storage import get_storage

    return get_storage().save(gzip.compress(json.dumps(elements, ensure_ascii=False).encode(), compresslevel=5))


def elements_load(name: str) -> list:
    from privexbot.storage import get_storage

    return json.loads(gzip.decompress(get_storage().open_bytes(name)))
