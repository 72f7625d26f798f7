"""Crawl settings and their validation (plain data; safe to build from a form or a JSON body)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from urllib.parse import urlsplit

from drafts.crawler.netguard import AddressPolicy
from drafts.crawler.patterns import GLOB_PREFIX, PatternError, check_patterns, compile_patterns, matches_any
from drafts.crawler.urls import canonical_url

__all__ = ["GLOB_PREFIX", "LIMITS", "CrawlConfig", "compile_patterns", "matches_any", "validate_crawl_config"]

MAX_URL_LENGTH = 2000
LIMITS = {"max_depth": (1, 10), "max_pages": (1, 1000), "concurrency": (1, 32), "timeout": (1, 300)}


@dataclass
class CrawlConfig:
    """What to crawl. See the package docstring for how each field behaves."""

    start_url: str
    max_depth: int = 3
    max_pages: int = 100
    include_patterns: list[str] = field(default_factory=list)
    exclude_patterns: list[str] = field(default_factory=list)
    concurrency: int = 5
    timeout: int = 30
    user_agent: str = "PrivexBot/1.0"
    obey_robots: bool = True
    allow_private: bool = False  # crawl private/loopback/link-local addresses (operator setting CRAWL_ALLOW_PRIVATE)
    # Documentation ranges (TEST-NET) treated as public, for tests in a network namespace only; nothing outside
    # those ranges is accepted (see netguard.AddressPolicy). The doors never pass it on from users.
    test_public_networks: list[str] = field(default_factory=list)
    # Also queue the pages of /sitemap.xml and of robots.txt "Sitemap:" lines on the same site (re-syncs).
    use_sitemap: bool = False

    def address_policy(self) -> AddressPolicy:
        return AddressPolicy(allow_private=self.allow_private, test_public_networks=tuple(self.test_public_networks))


def validate_crawl_config(data: dict) -> CrawlConfig:
    """Build a CrawlConfig from untrusted input; raise ValueError("<field>: message") on the first problem."""
    known = {f.name for f in fields(CrawlConfig)}
    unknown = sorted(set(data) - known)
    if unknown:  # a typo ("max_page") would otherwise be silently ignored
        raise ValueError(f"{unknown[0]}: unknown field")
    if "start_url" not in data:
        raise ValueError("start_url: required")
    values = dict(data)
    values["start_url"] = _check_url(values["start_url"])
    for name, (low, high) in LIMITS.items():
        if name in values:
            values[name] = _check_int(name, values[name], low, high)
    for name in ("include_patterns", "exclude_patterns"):
        if name in values:
            values[name] = _check_patterns(name, values[name])
    if not isinstance(values.get("user_agent", "x"), str) or not values.get("user_agent", "x").strip():
        raise ValueError("user_agent: must be a non-empty string")
    if not isinstance(values.get("obey_robots", True), bool):
        raise ValueError("obey_robots: must be true or false")
    if not isinstance(values.get("allow_private", False), bool):
        raise ValueError("allow_private: must be true or false")
    if not isinstance(values.get("use_sitemap", False), bool):
        raise ValueError("use_sitemap: must be true or false")
    networks = values.get("test_public_networks", [])
    if not isinstance(networks, list | tuple) or not all(isinstance(n, str) for n in networks):
        raise ValueError("test_public_networks: must be a list of strings")
    values["test_public_networks"] = list(networks)
    config = CrawlConfig(**values)
    config.address_policy()  # raises ValueError("test_public_networks: ...") for anything but TEST-NET
    # Excluded pages are never fetched, so excluding the start page would be a crawl of nothing.
    if matches_any(compile_patterns(config.exclude_patterns), canonical_url(config.start_url)):
        raise ValueError("exclude_patterns: excludes the start URL itself")
    return config


def _check_url(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("start_url: required")
    value = value.strip()
    if len(value) > MAX_URL_LENGTH:
        raise ValueError(f"start_url: longer than {MAX_URL_LENGTH} characters")
    # Parsers disagree on these (WHATWG reads "\\" as "/", Python does not): a URL that means two things
    # to two parsers is how guards get bypassed, so it is refused rather than interpreted.
    if "\\" in value or any(ord(char) < 0x21 or ord(char) == 0x7F for char in value):
        raise ValueError("start_url: must not contain backslashes, spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise ValueError(f"start_url: not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("start_url: must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("start_url: must include a host name")
    if "@" in parts.netloc:  # credentials would end up in every stored URL and log line; "a@b" also misleads
        raise ValueError("start_url: must not contain a user name or password")
    return value


def _check_int(name: str, value, low: int, high: int) -> int:
    # bool is an int subclass: True would silently mean 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}: must be a whole number")
    if not low <= value <= high:
        raise ValueError(f"{name}: must be between {low} and {high}")
    return value


def _check_patterns(name: str, value) -> list[str]:
    try:
        return check_patterns(value)
    except PatternError as exc:
        raise ValueError(f"{name}: {exc}") from None
