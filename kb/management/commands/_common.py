"""Shared bits of the kb commands: acting as a user through the access funnel, and waiting with a progress bar."""

from __future__ import annotations

import sys
import time

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import CommandError
from django.http import Http404

from kb.models import UNFINISHED, Document
from kb.selectors import kb_get_for_user, kb_queryset_for_user


def add_user_argument(parser):
    parser.add_argument("--user", required=True, help="act as this user (their workspace role applies)")


def get_user(username: str):
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(f"no active user {username!r}")
    return user


def get_kb(user, ref: str, perm: str):
    """A KB by id, or by exact name among the user's KBs."""
    try:
        return kb_get_for_user(user=user, kb_id=ref, perm=perm)
    except Http404:
        matches = list(kb_queryset_for_user(user=user, perm=perm).filter(name=ref)[:2])
        if len(matches) == 1:
            return matches[0]
        raise CommandError(f"no knowledge base {ref!r} that {user.username} may access ({perm})") from None
    except PermissionDenied as exc:
        raise CommandError(str(exc)) from None


def wait_with_progress(document_ids, *, stream=sys.stderr, timeout: float | None = None, interval: float = 0.5) -> dict:
    """Blocks until every document is finished; draws one progress line. Returns {status: count}."""
    ids = [str(pk) for pk in document_ids]
    started = time.monotonic()
    while True:
        rows = list(Document.objects.filter(pk__in=ids).values_list("status", "progress"))
        done = sum(1 for s, _ in rows if s not in UNFINISHED)
        percent = sum(100 if s not in UNFINISHED else p for s, p in rows) / max(1, len(rows))
        bar = "#" * int(percent / 4)
        stream.write(f"\r[{bar:<25}] {percent:5.1f}%  {done}/{len(rows)} documents finished")
        stream.flush()
        if done == len(rows):
            stream.write("\n")
            counts: dict[str, int] = {}
            for s, _ in rows:
                counts[s] = counts.get(s, 0) + 1
            return counts
        if timeout is not None and time.monotonic() - started > timeout:
            stream.write("\n")
            raise CommandError(f"timed out after {timeout:.0f}s; documents are still processing")
        time.sleep(interval)
