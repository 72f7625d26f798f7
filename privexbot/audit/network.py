"""The client's address. X-Forwarded-For is client-controlled, so it is believed only when the socket peer is
one of TRUSTED_PROXIES, and then read from the right: the first address that is not itself a trusted proxy is
the client (a client can prepend anything, but not what our own proxies append)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _address(text: str):
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address, networks) -> bool:
    return any(address in network for network in networks)


def client_ip(request) -> str | None:
    if request is None:
        return None
    peer = _address(request.META.get("REMOTE_ADDR") or "")
    if peer is None:
        return None
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    if not networks or not _trusted(peer, networks):
        return str(peer)
    hops = [_address(part) for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    for hop in reversed(hops):
        if hop is None:  # a malformed entry: everything left of it is unverifiable
            break
        if not _trusted(hop, networks):
            return str(hop)
    return str(peer)
