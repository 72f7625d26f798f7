"""URL canonicalisation and the same-origin rule.

Scrapy's allow_domains ignores ports, and the dupefilter's canonical form is not what we want to fetch
(it sorts query strings and rewrites "?a" as "?a="), so both are done here.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit, urlunsplit

from w3lib.url import canonicalize_url, safe_url_string

DEFAULT_PORTS = {"http": 80, "https": 443}
Origin = tuple[str, str, int]


def canonical_url(url: str) -> str:
    """The form we fetch and report: lower-case scheme/host, no default port, credentials, fragment or dot segments."""
    parts = urlsplit(safe_url_string(url.strip()))
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    netloc = host if port in (None, DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    path = _remove_dot_segments(parts.path) or "/"
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def url_key(url: str) -> str:
    """Identity for de-duplication: also ignores query-parameter order, like Scrapy's dupefilter."""
    return canonicalize_url(url)


def origin_of(url: str) -> Origin | None:
    """(scheme, host, port) or None for anything that is not http(s) with a host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def _remove_dot_segments(path: str) -> str:
    if "." not in path:
        return path
    # urljoin implements RFC 3986 dot-segment removal ("/a/b/../c" -> "/a/c") and leaves "//" alone.
    return urlsplit(urljoin("http://x/", path)).path
