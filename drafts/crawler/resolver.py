"""The crawl child's only name resolver: resolve each host once, vet the answer, connect to that answer.

Installed on Twisted's reactor through Scrapy's TWISTED_DNS_RESOLVER setting, as both the simple resolver
(`reactor.resolve`, used by connectTCP) and the hostname resolver (`reactor.nameResolver`, used by the
HostnameEndpoint that Scrapy's HTTP/1.1 agent connects with), so every TCP connection the crawl makes
— pages, redirects, robots.txt — gets its address from here. The first lookup of a host is the only
one: its vetted answer (or its refusal) is kept for the whole crawl, and the connection uses exactly
those addresses, so a name that rebinds to 127.0.0.1 after a public first answer never reaches
127.0.0.1. The URL's host name stays in the Host header and in TLS SNI; only the address is pinned.
"""

from __future__ import annotations

from twisted.internet import defer, threads
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import IHostnameResolver, IHostResolution, IResolverSimple
from zope.interface import implementer

from drafts.crawler.netguard import AddressPolicy, AddressRefused, normalise_host, resolve, vet

POLICY_SETTING = "PRIVEXBOT_ADDRESS_POLICY"  # a dict of AddressPolicy fields, set by drafts.crawler.child


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name: str) -> None:
        self.name = name

    def cancel(self) -> None:  # the lookup is shared by every request to the host: it is not cancelled
        pass


@implementer(IResolverSimple, IHostnameResolver)
class PinnedResolver:
    def __init__(self, reactor, policy: AddressPolicy, timeout: float) -> None:
        self.reactor = reactor
        self.policy = policy
        self.timeout = timeout
        self._answers: dict[str, tuple[str, ...] | AddressRefused] = {}
        self._pending: dict[str, list[defer.Deferred]] = {}

    @classmethod
    def from_crawler(cls, crawler, reactor) -> PinnedResolver:
        settings = crawler.settings
        policy = AddressPolicy(**settings.getdict(POLICY_SETTING))
        return cls(reactor, policy, settings.getfloat("DNS_TIMEOUT"))

    def install_on_reactor(self) -> None:
        self.reactor.installResolver(self)  # also sets a name resolver wrapping it; replaced next
        self.reactor.installNameResolver(self)

    # ------------------------------------------------------------------ the one lookup per host
    def vetted(self, host: str) -> defer.Deferred:
        """Deferred firing with the host's vetted addresses, or failing with AddressRefused (the reason)."""
        try:
            key = normalise_host(host)
        except AddressRefused as exc:
            return defer.fail(exc)
        if key in self._answers:
            answer = self._answers[key]
            return defer.fail(answer) if isinstance(answer, AddressRefused) else defer.succeed(answer)
        waiter: defer.Deferred = defer.Deferred()
        if key in self._pending:  # concurrent requests to a new host share its first lookup
            self._pending[key].append(waiter)
            return waiter
        self._pending[key] = [waiter]
        lookup = threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), resolve, key)
        lookup.addTimeout(self.timeout, self.reactor)
        lookup.addCallback(lambda addresses: vet(key, addresses, self.policy))
        lookup.addBoth(self._settle, key)
        return waiter

    def _settle(self, result, key: str) -> None:
        if isinstance(result, defer.Failure):
            exc = result.value
            if not isinstance(exc, AddressRefused):  # a timeout or an unexpected error: still refused
                exc = AddressRefused(f"refused: {key} does not resolve (DNS lookup failed: {type(exc).__name__})")
            result = exc
        self._answers[key] = result
        for waiter in self._pending.pop(key):
            if isinstance(result, AddressRefused):
                waiter.errback(result)
            else:
                waiter.callback(result)

    # ------------------------------------------------------------------ IResolverSimple
    def getHostByName(self, name: str, timeout=()) -> defer.Deferred:  # noqa: N802 - Twisted's interface
        def first_ipv4(addresses: tuple[str, ...]) -> str:
            for address in addresses:
                if ":" not in address:
                    return address
            raise DNSLookupError(f"{name} has no IPv4 address")

        def refused(failure):
            failure.trap(AddressRefused)
            raise DNSLookupError(str(failure.value))

        return self.vetted(name).addCallbacks(first_ipv4, refused)

    # ------------------------------------------------------------------ IHostnameResolver
    def resolveHostName(  # noqa: N802 - Twisted's interface
        self, resolutionReceiver, hostName, portNumber=0, addressTypes=None, transportSemantics="TCP"
    ):
        resolution = _Resolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)
        wanted = tuple(addressTypes) if addressTypes else (IPv4Address, IPv6Address)

        def deliver(addresses: tuple[str, ...]) -> None:
            for address in addresses:
                kind = IPv6Address if ":" in address else IPv4Address
                if kind in wanted:
                    resolutionReceiver.addressResolved(kind("TCP", address, portNumber))

        # A refusal delivers no address: the endpoint then fails with DNSLookupError. The reason reaches the
        # page's record through AddressGuard, which asks vetted() before the download starts.
        self.vetted(hostName).addCallbacks(deliver, lambda failure: failure.trap(AddressRefused)).addBoth(
            lambda _: resolutionReceiver.resolutionComplete()
        )
        return resolution
