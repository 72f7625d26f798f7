"""The Scrapy spider: breadth-first over one origin, parsing each HTML page into elements as it arrives."""

from __future__ import annotations

import hashlib
import logging

import scrapy
from scrapy import signals
from scrapy.exceptions import CloseSpider, IgnoreRequest, StopDownload
from scrapy.http import HtmlResponse
from scrapy.linkextractors import LinkExtractor
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots

from drafts.crawler.config import CrawlConfig, compile_patterns, matches_any
from drafts.crawler.errors import BlockedAddress, Excluded, LeavesSite, describe_failure
from drafts.crawler.recorder import Recorder
from drafts.crawler.results import PageResult
from drafts.crawler.urls import canonical_url, origin_of, url_key
from kb.pipeline.parse_html import html_title, parse_html_string

logger = logging.getLogger(__name__)

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
OUR_REQUEST = "kb_crawl"  # meta flag: robots.txt fetches and other internal requests are not ours
SITEMAP_REQUEST = "kb_sitemap"  # meta flag: robots.txt / sitemap.xml read for page URLs (config.use_sitemap)
MAX_SITEMAPS = 20  # sitemap files (index files and the sitemaps they name) read per crawl
MAX_VALIDATOR_LENGTH = 500  # an ETag / Last-Modified longer than this is not sent back
# With include_patterns the crawl walks through pages it does not store; this caps how many URLs it may
# queue so a rare match on a huge site cannot turn into an unbounded crawl.
QUEUE_BUDGET_FACTOR = 10
QUEUE_BUDGET_MIN = 500


class SiteSpider(scrapy.Spider):
    name = "kb_site"

    def __init__(self, *, config: CrawlConfig, recorder: Recorder, known: dict | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.recorder = recorder
        # Re-syncs: url_key -> {"etag", "last_modified", "links"} of the pages the KB holds (handle.KNOWN_FILE).
        self.known = known or {}
        self.sitemaps_requested = 0
        self.start_url = canonical_url(config.start_url)
        self.origin = origin_of(self.start_url)
        self.include = compile_patterns(config.include_patterns)
        self.exclude = compile_patterns(config.exclude_patterns)
        self.queue_budget = max(config.max_pages * QUEUE_BUDGET_FACTOR, QUEUE_BUDGET_MIN)
        # deny_extensions=[]: a link's extension says little about its type; non-HTML is detected from the
        # response headers instead, and its body is never downloaded (see on_headers).
        self.links = LinkExtractor(tags=("a", "area"), attrs=("href",), deny_extensions=[], unique=True)
        self.seen: set[str] = set()
        self.text_hashes: dict[str, str] = {}
        self.stopping = False
        self.fatal_error: str | None = None

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.on_headers, signal=signals.headers_received)
        return spider

    async def start(self):
        yield self._request(self.start_url, depth=0)
        if self.config.use_sitemap:
            scheme, host, port = self.origin
            base = canonical_url(f"{scheme}://{host}:{port}/")
            yield self._sitemap_request(base + "robots.txt", callback=self.parse_robots)
            yield self._sitemap_request(base + "sitemap.xml")

    def refusal(self, url: str, *, start: bool) -> IgnoreRequest | None:
        """Why a redirected request must not be fetched, or None."""
        if origin_of(url) is None:
            return LeavesSite(f"redirect to a non-http(s) URL ({url})")
        # The start request may be redirected anywhere (http -> https, example.com -> www.example.com):
        # the site is wherever it lands, and parse_page adopts that origin.
        if not start and origin_of(url) != self.origin:
            return LeavesSite(f"redirect leaves the site ({url})")
        if matches_any(self.exclude, canonical_url(url)):
            return Excluded(f"redirect to an excluded URL ({url})")
        return None

    def on_headers(self, headers, body_length, request, **kwargs) -> None:
        """Stop downloading non-HTML bodies: the headers are all we record for them."""
        if not request.meta.get(OUR_REQUEST):  # robots.txt is text/plain and its body is needed
            return
        content_type = _content_type(headers)
        if content_type and content_type not in HTML_TYPES:
            raise StopDownload(fail=False)

    def parse_page(self, response):
        if self.stopping:
            return
        depth = response.meta.get("depth", 0)
        url = canonical_url(response.url)
        self.seen.add(url_key(url))
        if depth == 0:
            self.origin = origin_of(url)  # after any redirect of the start URL
        if response.status >= 400:
            self._record(url, response.status, depth, error=f"HTTP {response.status}")
            return
        if response.status == 304:  # answer to our conditional request: the page the KB holds is current
            self.recorder.record(PageResult(url, 304, depth, not_modified=True))
            self._stop_at_max_pages()
            if depth < self.config.max_depth and not self.stopping:
                yield from self._follow(self.known.get(url_key(url), {}).get("links") or [], depth)
            return
        content_type = _content_type(response.headers) or ("text/html" if isinstance(response, HtmlResponse) else "")
        if content_type not in HTML_TYPES:
            self._record(url, response.status, depth, skipped=f"not HTML ({content_type or 'unknown type'})")
            return
        links = self._site_links(response)
        if self.include and not matches_any(self.include, url):
            # Not stored, but its links are still followed: an index page outside the pattern often is
            # the only way to reach the pages inside it.
            skipped = "not matched by include_patterns"
            self.recorder.record(PageResult(url, response.status, depth, skipped_reason=skipped))
        else:
            self._store(response, url, depth, links)
        if depth < self.config.max_depth and not self.stopping:  # max_depth = link hops from the start
            yield from self._follow(links, depth)

    def parse_robots(self, response):
        """robots.txt "Sitemap:" lines naming a sitemap on this site."""
        if self.stopping or response.status != 200:
            return
        for url in sitemap_urls_from_robots(response.text, base_url=response.url):
            if origin_of(url) == self.origin and (request := self._sitemap_request(url)):
                yield request

    def parse_sitemap(self, response):
        """Queue the site's pages a sitemap lists (or the sitemaps an index lists): pages no longer linked but
        still in the sitemap are kept by a re-sync. Every request goes through the same address guard."""
        if self.stopping or response.status != 200:
            return
        try:
            sitemap = Sitemap(response.body)  # lxml without entity resolution (Scrapy's parser)
        except Exception:
            logger.warning("unreadable sitemap %s", response.url)
            return
        for entry in sitemap:
            try:
                url = canonical_url(entry.get("loc", ""))
            except ValueError:
                continue
            if origin_of(url) != self.origin:
                continue
            if sitemap.type == "sitemapindex":
                if request := self._sitemap_request(url):
                    yield request
            elif sitemap.type == "urlset" and not matches_any(self.exclude, url):
                key = url_key(url)
                if key not in self.seen and len(self.seen) < self.queue_budget:
                    yield self._request(url, depth=1)

    def on_sitemap_error(self, failure):
        logger.info("sitemap %s not read: %s", failure.request.url, failure.getErrorMessage())

    def on_error(self, failure):
        if self.stopping:
            return
        request = failure.request
        # After redirects failure.request is the last hop; report the URL the crawl actually asked for.
        url = canonical_url(request.meta.get("redirect_urls", [request.url])[0])
        kind, reason = describe_failure(failure.value, timeout=self.config.timeout)
        depth = request.meta.get("depth", 0)
        if kind == "skipped":
            self._record(url, None, depth, skipped=reason)
        else:
            self._record(url, None, depth, error=reason)

    def _store(self, response, url: str, depth: int, links: list[str]) -> None:
        try:
            html = response.text
            elements = parse_html_string(html, base_url=url)
        except MemoryError:  # RLIMIT_AS (CRAWL_MEMORY_MB): this page is too big to parse, the next may not be
            self._record(url, response.status, depth, error="parse failed (needs more memory than CRAWL_MEMORY_MB)")
            return
        except Exception as exc:  # one odd page must not end the crawl
            logger.warning("parsing %s failed", url, exc_info=True)
            self._record(url, response.status, depth, error=f"parse failed ({type(exc).__name__})")
            return
        text = "\n".join(element["text"] for element in elements)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        first = self.text_hashes.setdefault(digest, url)
        if first != url and text:  # e.g. "/" and "/index.html": one copy is enough for a knowledge base
            self._record(url, response.status, depth, skipped=f"duplicate of {first}")
            return
        title = html_title(html) or next((e["text"] for e in elements if e.get("type") == "Title"), "")
        page = PageResult(
            url, response.status, depth, title=title, elements=elements, content_hash=digest,
            etag=_validator(response.headers, b"ETag"), last_modified=_validator(response.headers, b"Last-Modified"),
            links=links,
        )  # fmt: skip
        self.recorder.record(page)
        self._stop_at_max_pages()

    def _stop_at_max_pages(self) -> None:
        if self.recorder.progress.pages_processed >= self.config.max_pages:
            self.stopping = True
            raise CloseSpider("max_pages")

    def _site_links(self, response) -> list[str]:
        """This page's links that stay on the site and are not excluded (canonical, in page order)."""
        urls = []
        for link in self.links.extract_links(response):
            url = canonical_url(link.url)
            if origin_of(url) == self.origin and not matches_any(self.exclude, url):
                urls.append(url)
        return urls

    def _follow(self, urls: list[str], depth: int):
        for url in urls:
            # Checked again: links stored by an earlier crawl may predate the site's move or new exclusions.
            if origin_of(url) != self.origin or matches_any(self.exclude, url):
                continue
            key = url_key(url)
            if key in self.seen or len(self.seen) >= self.queue_budget:
                continue
            yield self._request(url, depth=depth + 1)

    def _request(self, url: str, *, depth: int) -> scrapy.Request:
        self.seen.add(url_key(url))
        self.recorder.set_found(len(self.seen))
        meta = {"depth": depth, OUR_REQUEST: True}
        headers = {}
        known = self.known.get(url_key(url)) or {}
        if _sendable(known.get("etag")):
            headers["If-None-Match"] = known["etag"]
        if _sendable(known.get("last_modified")):
            headers["If-Modified-Since"] = known["last_modified"]
        return scrapy.Request(url, headers=headers, callback=self.parse_page, errback=self.on_error, meta=meta)

    def _sitemap_request(self, url: str, *, callback=None) -> scrapy.Request | None:
        if self.sitemaps_requested >= MAX_SITEMAPS:
            return None
        self.sitemaps_requested += 1
        meta = {SITEMAP_REQUEST: True}
        callback = callback or self.parse_sitemap
        return scrapy.Request(url, callback=callback, errback=self.on_sitemap_error, meta=meta)

    def _record(self, url: str, status: int | None, depth: int, *, error=None, skipped=None) -> None:
        """Record a page that could not be used; at the start URL that ends the crawl with an error."""
        if depth == 0 and self.fatal_error is None:
            self.fatal_error = f"start URL failed: {error or skipped}"
        self.recorder.record(PageResult(url, status, depth, error=error, skipped_reason=skipped))


class _CrawlerMiddleware:
    def __init__(self, crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)


class AddressGuard(_CrawlerMiddleware):
    """Downloader middleware: before any request (links, redirect hops, robots.txt) is downloaded, its host
    is resolved and vetted by the crawl's PinnedResolver, so a refusal is recorded with its reason
    ("resolves to a private or local address", "does not resolve"). The connection then takes its address
    from the same resolver and the same cached answer: there is no second lookup to rebind."""

    async def process_request(self, request):
        from urllib.parse import urlsplit

        from scrapy.utils.defer import maybe_deferred_to_future
        from twisted.internet import reactor

        from drafts.crawler.netguard import AddressRefused
        from drafts.crawler.resolver import PinnedResolver

        resolver = reactor.nameResolver
        if not isinstance(resolver, PinnedResolver):  # fail closed: without it connections would not be pinned
            raise BlockedAddress("refused: the crawler's address guard is not installed")
        try:
            host = urlsplit(request.url).hostname or ""
        except ValueError:
            host = ""
        try:
            await maybe_deferred_to_future(resolver.vetted(host))
        except AddressRefused as exc:
            raise BlockedAddress(str(exc)) from None
        return None


class StayOnSiteMiddleware(_CrawlerMiddleware):
    """Downloader middleware: links are filtered in the spider, but redirects only show up here."""

    def process_request(self, request):
        ours = request.meta.get(OUR_REQUEST) or request.meta.get(SITEMAP_REQUEST)
        if not ours or "redirect_urls" not in request.meta:
            return None
        reason = self.crawler.spider.refusal(request.url, start=request.meta.get("depth", 0) == 0)
        if reason is not None:
            raise reason
        return None


def _validator(headers, name: bytes) -> str | None:
    raw = headers.get(name)
    return raw.decode("latin-1").strip() if raw else None


def _sendable(value) -> bool:
    """A stored ETag / Last-Modified safe to send back as a header value."""
    return (
        isinstance(value, str) and 0 < len(value) <= MAX_VALIDATOR_LENGTH and all(0x20 <= ord(c) < 0x7F for c in value)
    )


def _content_type(headers) -> str:
    raw = headers.get(b"Content-Type") or b""
    return raw.decode("latin-1").split(";", 1)[0].strip().lower()
