"""Who may read the metrics: a bearer token (METRICS_TOKEN) and/or a client-address allowlist (METRICS_ALLOWED_IPS).

Metrics tell an attacker what runs here, how busy it is and where it fails, so they are never public: with
neither setting configured nobody may read them. With both, a scrape must pass both (the token proves who asks,
the allowlist where from). The address is the socket's peer (REMOTE_ADDR), never X-Forwarded-For, which any
client could forge; a scraper behind a proxy authenticates with the token.
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings


def configured() -> bool:
    return bool(settings.METRICS_TOKEN or settings.METRICS_ALLOWED_IPS)


def _networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(item, strict=False) for item in settings.METRICS_ALLOWED_IPS]


def _address_allowed(remote_addr: str) -> bool:
    try:
        address = ipaddress.ip_address((remote_addr or "").strip())
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped:  # ::ffff:10.0.0.5 from a dual-stack socket
        address = address.ipv4_mapped
    return any(address in network for network in _networks())


def _token_matches(authorization: str) -> bool:
    scheme, _, given = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return False
    # Constant time: how long the comparison takes must not tell how many leading characters were right.
    return hmac.compare_digest(given.strip().encode(), settings.METRICS_TOKEN.encode())


def allowed(*, remote_addr: str, authorization: str) -> bool:
    """True when every configured check passes; False for everyone when none is configured."""
    if not configured():
        return False
    if settings.METRICS_TOKEN and not _token_matches(authorization):
        return False
    return not (settings.METRICS_ALLOWED_IPS and not _address_allowed(remote_addr))
