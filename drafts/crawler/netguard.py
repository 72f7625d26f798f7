"""Which addresses the crawler may connect to (SSRF protection). Plain Python: the web process uses it too.

A self-hosted crawler runs inside the operator's network: without this, a user could make it fetch the
cloud metadata endpoint (169.254.169.254), an admin panel on 10.x or a service on localhost. The rules
here judge *addresses*, never names: the crawl child resolves each host once (drafts.crawler.resolver),
vets every address of the answer with `AddressPolicy.refusal` and then connects only to that vetted
answer, so a name that answers a public address first and 127.0.0.1 next (DNS rebinding) cannot reach
127.0.0.1. A name that does not resolve is refused (fail closed). Operators who want to crawl their
intranet set CRAWL_ALLOW_PRIVATE=true.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Tests may treat these as public (AddressPolicy.test_public_networks) and nothing else: documentation
# ranges (RFC 5737, RFC 3849) are never routed on the internet, so the hook cannot open a real private net.
DOCUMENTATION_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # a NAT64 gateway connects to the IPv4 address in the last 32 bits
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated "::a.b.c.d" form; some stacks still route it as IPv4
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
_UNSPECIFIED_V4 = ipaddress.ip_network("0.0.0.0/8")
_BROADCAST = ipaddress.ip_address("255.255.255.255")
# Special-purpose ranges this Python's ipaddress (3.11) still calls global: IETF protocol assignments, the
# 6to4 relay anycast, deprecated site-local, local-use NAT64, IPv6 documentation and SRv6 SIDs.
_NOT_PUBLIC = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.0.0/24", "192.88.99.0/24", "fec0::/10", "64:ff9b:1::/48", "3fff::/20", "5f00::/16")
)
# Refused even with CRAWL_ALLOW_PRIVATE: an intranet crawl never needs the cloud metadata services (AWS,
# GCP, Azure, OpenStack: 169.254.169.254; AWS IPv6: fd00:ec2::254; Alibaba: 100.100.100.200; ECS tasks:
# 169.254.170.2), and no server lives at an unspecified or multicast address (0.0.0.0 reaches localhost).
_METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)


def _never(ip: IPAddress) -> str | None:
    if ip in _METADATA:
        return "cloud metadata endpoint"
    if ip.is_unspecified or (ip.version == 4 and ip in _UNSPECIFIED_V4):
        return "unspecified"
    if ip.is_multicast or ip == _BROADCAST:
        return "multicast or broadcast"
    return None


class AddressRefused(Exception):
    """The host must not be fetched; str() is the reason shown for the page."""


def _kind(ip: IPAddress) -> str | None:
    """What makes `ip` non-public ("loopback", "private", ...), or None for a globally routable address."""
    if never := _never(ip):
        return never
    for test, name in (
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.version == 4 and ip in _CGNAT, "shared address space (CGNAT)"),
        (ip.is_reserved, "reserved"),
        (ip.is_private, "private"),
        (ip.version == 6 and ip not in _GLOBAL_UNICAST_V6, "not global unicast"),
        (any(ip in network for network in _NOT_PUBLIC), "special-purpose"),
        (not ip.is_global, "not globally routable"),
    ):
        if test:
            return name
    return None


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries for translation or tunnelling (mapped, compatible, 6to4,
    Teredo, NAT64): a connection to it can end at that IPv4 address, so that is the one to judge."""
    if ip.version == 4:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client; the server part is public by construction
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """allow_private: CRAWL_ALLOW_PRIVATE. test_public_networks: documentation ranges a test's network
    namespace uses as "the internet" (nothing outside DOCUMENTATION_NETWORKS is accepted)."""

    allow_private: bool = False
    test_public_networks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        try:
            networks = self._test_networks()
        except ValueError as exc:
            raise ValueError(f"test_public_networks: {exc}") from None
        for network in networks:
            if not any(network.subnet_of(doc) for doc in DOCUMENTATION_NETWORKS if doc.version == network.version):
                raise ValueError(f"test_public_networks: {network} is not a documentation range")

    def _test_networks(self) -> list[IPNetwork]:
        return [ipaddress.ip_network(n) for n in self.test_public_networks]

    def refusal(self, address: str) -> str | None:
        """Why `address` (as getaddrinfo returns it) must not be connected to, or None."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone ("fe80::1%eth0") is no address
        except ValueError:
            return "not an IP address"
        candidates = [ip] + ([inner] if (inner := embedded_ipv4(ip)) is not None else [])
        for candidate in candidates:
            if self.allow_private:
                if never := _never(candidate):
                    return never if candidate is ip else f"{never}, embedded {candidate}"
                continue
            if any(candidate in network for network in self._test_networks()):
                continue
            if kind := _kind(candidate):
                return kind if candidate is ip else f"{kind}, embedded {candidate}"
        return None


def normalise_host(host: str) -> str:
    """The host as the socket layer will look it up: lower-case ASCII (IDNA, so "ⓛocalhost" is "localhost"),
    no IPv6 brackets, no trailing dot (which would send "localhost." past /etc/hosts to DNS).
    AddressRefused for hosts that different parsers read differently (see host_refusal)."""
    name = (host or "").strip().strip("[]")
    if not name:
        raise AddressRefused("refused: the URL has no host name")
    if reason := host_refusal(name):
        raise AddressRefused(reason)
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise AddressRefused(f"refused: {name!r} is not a valid host name") from None
        if reason := host_refusal(name):
            raise AddressRefused(reason)
    name = name.lower()
    return name.removesuffix(".")


def host_refusal(name: str) -> str | None:
    """Why a URL host must be refused before any lookup, or None.

    Numbers in a form other than a.b.c.d (2130706433, 0x7f.1, 0177.0.0.1, 127.1) are IPv4 addresses to
    browsers and to inet_aton, and names to other parsers; percent-encoded hosts, IPv6 zones and empty labels
    likewise mean different things to different parsers. A guard and a downloader that disagree on what a
    host is are how SSRF guards are bypassed, so these are refused rather than interpreted."""
    if "%" in name:
        return f"refused: the host {name!r} is percent-encoded or has an IPv6 zone"
    if any(char in name for char in "\\/@ \t\r\n") or not name.isprintable():
        return f"refused: the host {name!r} contains characters a host name cannot hold"
    if ":" in name:
        try:
            ipaddress.IPv6Address(name)
        except ValueError:
            return f"refused: {name!r} is not a valid IPv6 address"
        return None
    labels = name[:-1].split(".") if name.endswith(".") else name.split(".")
    if "" in labels:
        return f"refused: the host {name!r} has an empty label"
    if len(name) > 253 or any(len(label) > 63 for label in labels):  # RFC 1035 limits: no lookup can succeed
        return f"refused: the host {name[:80]!r} is longer than a host name can be"
    last = labels[-1].lower()
    if last.isdigit() or (last.startswith("0x") and all(c in "0123456789abcdef" for c in last[2:])):
        try:
            ipaddress.IPv4Address(".".join(labels))
        except ValueError:
            return f"refused: {name!r} is an IP address in a non-standard form (write it as four decimal numbers)"
    return None


def resolve(host: str) -> tuple[str, ...]:
    """Every address `host` resolves to, as the system resolver (getaddrinfo) answers now; no cache.
    Raises AddressRefused when the host is malformed (normalise_host) or does not resolve (fail closed)."""
    name = normalise_host(host)
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:  # gaierror, "label too long", embedded NUL ...
        raise AddressRefused(f"refused: {name} does not resolve (DNS lookup failed: {_short(exc)})") from None
    addresses = tuple(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise AddressRefused(f"refused: {name} does not resolve (no address)")
    return addresses


def vet(host: str, addresses: tuple[str, ...], policy: AddressPolicy) -> tuple[str, ...]:
    """`addresses` if every one of them is allowed; otherwise AddressRefused naming the first bad one.
    All, not any: a connection may try each address of the answer in turn."""
    for address in addresses:
        if (kind := policy.refusal(address)) and policy.allow_private:
            raise AddressRefused(f"refused: {host.strip('[]')} resolves to {address} ({kind}), which is never crawled")
        if kind:
            raise AddressRefused(
                f"refused: {host.strip('[]')} resolves to a private or local address ({address}, {kind}); "
                "crawling internal addresses is disabled (CRAWL_ALLOW_PRIVATE)"
            )
    return addresses


def blocked_reason(host: str, policy: AddressPolicy | None = None) -> str | None:
    """Why `host` must not be crawled, or None when it resolves and every address is allowed.

    The check at the door (adding a website source): an early, clear error. It does not protect the
    crawl on its own, since the name may answer differently later; the crawl child vets its own lookup."""
    policy = policy or AddressPolicy()
    try:
        vet(host, resolve(host), policy)
    except AddressRefused as exc:
        return str(exc)
    return None


def _short(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text[:120]
