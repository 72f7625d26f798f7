"""Turn download failures into the short, user-facing reasons stored on a PageResult."""

from __future__ import annotations

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from twisted.internet import error as tx_error

MAX_DOWNLOAD_BYTES = 10 * 1024 * 1024


class LeavesSite(IgnoreRequest):
    """A redirect (or link) that would take the crawl off the start URL's scheme, host and port."""


class BlockedAddress(IgnoreRequest):
    """The host resolves to a private or local address (and CRAWL_ALLOW_PRIVATE is off), or does not resolve."""


class Excluded(IgnoreRequest):
    """A redirect into a URL matched by exclude_patterns."""


def describe_failure(exc: BaseException, *, timeout: int) -> tuple[str, str]:
    """("error" | "skipped", reason) for an exception delivered to a request's errback."""
    if isinstance(exc, BlockedAddress):
        return "error", str(exc)
    if isinstance(exc, LeavesSite | Excluded):
        return "skipped", str(exc)
    if isinstance(exc, IgnoreRequest):
        if "robots.txt" in str(exc):
            return "skipped", "blocked by robots.txt"
        return "skipped", f"ignored ({exc})"
    # Scrapy 2.19 wraps Twisted's errors; the raw ones are kept for download paths that do not.
    if isinstance(exc, DownloadConnectionRefusedError | tx_error.ConnectionRefusedError):
        return "error", "connection refused"
    if isinstance(exc, CannotResolveHostError | tx_error.DNSLookupError):
        return "error", "DNS lookup failed"
    if isinstance(exc, DownloadTimeoutError | tx_error.TimeoutError):
        return "error", f"timeout after {timeout}s"
    if isinstance(exc, DownloadCancelledError) and "max size" in str(exc):
        return "error", f"larger than the {MAX_DOWNLOAD_BYTES // (1024 * 1024)} MB download limit"
    if isinstance(exc, ResponseDataLossError):
        return "error", "incomplete response (connection closed early)"
    if isinstance(exc, DownloadFailedError | tx_error.ConnectionLost | tx_error.ConnectionDone):
        return "error", f"download failed ({_short(exc)})"
    return "error", f"{type(exc).__name__}: {_short(exc)}"


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
