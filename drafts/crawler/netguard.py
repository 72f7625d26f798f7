"""Refuse to crawl private, loopback, link-local and other non-public addresses (SSRF protection).

A self-hosted crawler runs inside the operator's network: without this, a user could make it fetch the
cloud metadata endpoint (169.254.169.254), an admin panel on 10.x or a service on localhost. The check
runs on the resolved addresses of every request the crawler makes, redirects included, so a public name
that resolves (or redirects) to a private address is refused too. Operators who want to crawl their
intranet set CRAWL_ALLOW_PRIVATE=true.
"""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
        or ip.is_reserved or ip.is_unspecified or not ip.is_global
    )  # fmt: skip


@lru_cache(maxsize=1024)
def _resolve(host: str) -> tuple[str, ...]:
    try:
        return tuple(sorted({info[4][0] for info in socket.getaddrinfo(host, None)}))
    except (socket.gaierror, UnicodeError):
        return ()  # unresolvable: the download itself reports "DNS lookup failed"


def blocked_reason(host: str) -> str | None:
    """Why `host` must not be crawled, or None when every address it resolves to is public."""
    host = (host or "").strip("[]")
    for address in _resolve(host):
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not _is_public(ip):
            return (
                f"refused: {host} resolves to a private or local address ({address}); "
                "crawling internal addresses is disabled (CRAWL_ALLOW_PRIVATE)"
            )
    return None
