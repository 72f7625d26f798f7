"""Limits on the HTML routes that upload, preview or search, like the API's `heavy` throttle has for its doors.

`html_limits(kind, max_body=...)` wraps a view. Before anything reads the request body it answers
- 413 when the Content-Length is over `max_body` (a callable, so settings overrides apply at once), and
- 429 when the user (the client address when anonymous) is over HTML_THROTTLE_HEAVY for this kind of route.
Counting is django-ratelimit's: fixed windows in Django's cache (Redis), shared by every web process. A browser
request gets a page with the message; an HTMX request a fragment retargeted to #alerts in base.html (htmx swaps
413 and 429 there: see its config in base.html), so the form the user was filling in stays as it was.

The CSRF check moves inside the wrapper: Django's CSRF middleware reads the POST body to find the token, which
would spool an oversize upload before the size was known. The view is exempt from the middleware and checked
with the same code (csrf_protect) once the request passed both limits.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from functools import wraps

import redis
from django.conf import settings
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django_ratelimit.core import get_usage

from privexbot.audit.network import client_ip

logger = logging.getLogger(__name__)
TEMPLATE = "errors/limit.html"
FORM_SLACK = 1024 * 1024  # the other fields and the multipart boundaries around the files


def upload_limit() -> int:
    """Bytes one browser upload (several files) may have: UPLOAD_MAX_REQUEST_SIZE plus the form around it."""
    return settings.UPLOAD_MAX_REQUEST_SIZE + FORM_SLACK


def form_limit() -> int:
    """Bytes a form without files may have: Django's own limit on the fields (DATA_UPLOAD_MAX_MEMORY_SIZE)."""
    return (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440) + FORM_SLACK


def _key(group: str, request) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"u{user.pk}"
    return f"ip{client_ip(request) or 'unknown'}"  # the audit log's address (TRUSTED_PROXIES)


def _wait_seconds(request, kind: str) -> int | None:
    """Counts this request; the seconds until the window ends when it is over the limit, else None."""
    try:
        usage = get_usage(request, group=f"html:{kind}", key=_key, rate=settings.HTML_THROTTLE_HEAVY, increment=True)
    except redis.RedisError:  # as the API throttles: a Redis hiccup must not become an outage
        logger.warning("html limit %s: Redis unavailable, request allowed", kind)
        return None
    if usage is None or not usage["should_limit"]:
        return None
    return max(1, math.ceil(usage["time_left"]))


def _refusal(request, *, status: int, message: str, retry_after: int | None = None):
    template = f"{TEMPLATE}#alert" if getattr(request, "htmx", False) else TEMPLATE
    response = render(request, template, {"message": message, "status": status}, status=status)
    if getattr(request, "htmx", False):
        response["HX-Retarget"] = "#alerts"
        response["HX-Reswap"] = "innerHTML"
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


def _megabytes(size: int) -> str:
    return f"{size / 2**20:g} MB"


def html_limits(kind: str, *, max_body: Callable[[], int] | None = form_limit, methods: tuple[str, ...] = ("POST",)):
    """Size pre-check and throttle for requests of `methods` (others go straight to the view, still with CSRF).
    `max_body=None`: the view checks the size itself, before reading the body (the KB import page does)."""

    def decorator(view):
        checked = csrf_protect(view)

        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method in methods:
                length = request.META.get("CONTENT_LENGTH") or ""
                limit = max_body() if max_body is not None else None
                if limit is not None and length.isdigit() and int(length) > limit:
                    return _refusal(
                        request,
                        status=413,
                        message=f"This request is larger than the {_megabytes(limit)} limit. Send fewer or "
                        f"smaller files at once (each file may be up to {_megabytes(settings.MAX_FILE_SIZE)}).",
                    )
                wait = _wait_seconds(request, kind)
                if wait is not None:
                    return _refusal(
                        request,
                        status=429,
                        message=f"Too many requests of this kind ({settings.HTML_THROTTLE_HEAVY}). "
                        f"Try again in {wait} second{'s' if wait != 1 else ''}.",
                        retry_after=wait,
                    )
            return checked(request, *args, **kwargs)

        return csrf_exempt(wrapped)

    return decorator
