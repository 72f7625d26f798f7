"""The website crawler against real servers on 127.0.0.1: the Django docs corpus and a tiny synthetic site.

No database: these are plain functions with server fixtures.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import socket
import threading
import time
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from drafts.crawler import CrawlConfig, CrawlProgress, PageResult, crawl, start_crawl, validate_crawl_config
from drafts.crawler.urls import canonical_url

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
SITE = CORPUS / "site"
SITE_PAGES = 692
WAIT = 30  # seconds; a crawl that takes longer than this is a hang, not a slow machine

pytestmark = pytest.mark.skipif(not SITE.is_dir(), reason="corpus not available")


class QuietHandler(SimpleHTTPRequestHandler):
    """Serves a directory, records (path, Host header, status) instead of printing, and has one redirect."""

    def do_GET(self):
        if self.path == "/redirect-away":
            self.send_response(302)
            self.send_header("Location", self.server.redirect_target)
            self.end_headers()
            return
        super().do_GET()

    def log_request(self, code="-", size="-"):
        self.server.request_log.append((self.path, self.headers.get("Host"), int(code)))

    def log_message(self, format, *args):
        pass


def _serve(directory: Path) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(directory)))
    server.request_log = []
    server.redirect_target = ""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def corpus_server():
    server = _serve(SITE)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def site(corpus_server):
    corpus_server.request_log.clear()
    return f"http://127.0.0.1:{corpus_server.server_address[1]}/", corpus_server.request_log


@pytest.fixture(scope="module")
def tiny_site(tmp_path_factory):
    """index.html links to duplicates, a redirecting directory, a PNG, a 404, another port and another host."""
    root = tmp_path_factory.mktemp("tiny_site")
    main, other = _serve(root), _serve(root)
    port, other_port = main.server_address[1], other.server_address[1]
    main.redirect_target = f"http://127.0.0.1:{other_port}/page2.html"
    links = [
        "page2.html",
        "page2.html#part",
        "./page2.html",
        "copy.html",
        "sub",
        "picture.png",
        "missing.html",
        "private/secret.html",
        "/redirect-away",
        f"http://127.0.0.1:{other_port}/page2.html",
        f"http://localhost:{port}/page2.html",
        "mailto:someone@example.com",
        "javascript:void(0)",
        "ftp://127.0.0.1/file.html",
    ]
    anchors = "".join(f'<li><a href="{href}">link</a></li>' for href in links)
    (root / "index.html").write_text(f"<html><head><title>Tiny</title></head><body><h1>Tiny</h1><ul>{anchors}</ul>")
    page = "<html><head><title>Two</title></head><body><h1>Page two</h1><p>Same words in two files.</p></body>"
    (root / "page2.html").write_text(page)
    (root / "copy.html").write_text(page)
    (root / "sub").mkdir()
    (root / "sub" / "index.html").write_text("<html><body><h1>Sub</h1><p>Reached through a redirect.</p></body>")
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    (root / "private").mkdir()
    (root / "private" / "secret.html").write_text("<html><body><h1>Secret</h1></body>")
    (root / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    yield f"http://127.0.0.1:{port}/", main, other
    for server in (main, other):
        server.shutdown()
        server.server_close()


def run(tmp_path: Path, start_url: str, **options) -> tuple[CrawlProgress, list[PageResult]]:
    handle = start_crawl(CrawlConfig(allow_private=True, start_url=start_url, **options), out_dir=tmp_path / "crawl")
    with handle:  # cancels the child if an assertion below fails
        progress = handle.wait(timeout=WAIT)
        assert progress.finished, "crawl did not finish in time"
        return progress, list(handle.pages())


def stored(results: list[PageResult]) -> list[PageResult]:
    return [r for r in results if r.ok]


def by_path(results: list[PageResult]) -> dict[str, PageResult]:
    return {urlsplit(r.url).path: r for r in results}


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


def all_links(path: Path) -> list[str]:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.hrefs


def same_origin_links(path: Path, page_url: str) -> set[str]:
    origin = urlsplit(page_url)[:2]
    absolute = {canonical_url(urljoin(page_url, href)) for href in all_links(path)}
    return {url for url in absolute if urlsplit(url)[:2] == origin}


# --- limits --------------------------------------------------------------------------------------------


def test_max_pages_is_respected_exactly(site, tmp_path):
    base, _ = site
    progress, results = run(tmp_path, base + "index.html", max_pages=7, max_depth=3)
    assert progress.error is None
    assert len(stored(results)) == 7 == progress.pages_processed
    assert len({r.url for r in results}) == len(results)  # one line per URL


def test_depth_one_yields_the_start_page_and_its_direct_links(site, tmp_path):
    base, log = site
    progress, results = run(tmp_path, base + "index.html", max_depth=1, max_pages=1000)
    expected = same_origin_links(SITE / "index.html", base + "index.html") | {base + "index.html"}
    assert {r.url for r in results} == expected
    # index.html links out (djangoproject.com, ...); none of it was requested, here or anywhere else.
    assert "https://code.djangoproject.com/" in all_links(SITE / "index.html")
    assert all(path.startswith("/") and host == urlsplit(base).netloc for path, host, _ in log)
    assert by_path(results)["/index.html"].depth == 0
    assert {r.depth for r in results} == {0, 1}
    assert progress.pages_processed == len(stored(results)) > 100


def test_every_result_is_within_max_depth(site, tmp_path):
    base, _ = site
    _, results = run(tmp_path, base + "misc/index.html", max_depth=2, max_pages=20)
    assert len(stored(results)) == 20
    assert max(r.depth for r in results) == 2  # breadth-first reached depth 2 and stopped there


# --- scope and patterns ---------------------------------------------------------------------------------


def test_include_patterns_store_only_matches_but_follow_through(site, tmp_path):
    base, _ = site
    progress, results = run(tmp_path, base + "index.html", max_depth=2, max_pages=5, include_patterns=[r"/topics/"])
    assert progress.pages_processed == 5
    assert all("/topics/" in r.url for r in stored(results))
    # The start page does not match, is not stored, and yet its links were followed.
    index = by_path(results)["/index.html"]
    assert (index.ok, index.skipped_reason) == (False, "not matched by include_patterns")


def test_glob_include_pattern(site, tmp_path):
    base, _ = site
    _, results = run(
        tmp_path,
        base + "ref/models/index.html",
        max_depth=1,
        max_pages=4,
        include_patterns=["glob:*/ref/models/*s.html"],
    )
    assert len(stored(results)) == 4
    assert all(re.search(r"/ref/models/[^/]*s\.html$", r.url) for r in stored(results))
    assert by_path(results)["/ref/models/index.html"].skipped_reason == "not matched by include_patterns"


def test_exclude_patterns_are_neither_stored_nor_fetched(site, tmp_path):
    base, log = site
    _, results = run(
        tmp_path, base + "index.html", max_depth=1, max_pages=40, exclude_patterns=[r"/topics/", "glob:*/faq/*"]
    )
    assert len(stored(results)) == 40
    assert not [r.url for r in results if "/topics/" in r.url or "/faq/" in r.url]
    assert not [path for path, _, _ in log if path.startswith(("/topics/", "/faq/"))]


def test_stays_on_scheme_host_and_port(tiny_site, tmp_path):
    base, main, other = tiny_site
    main.request_log.clear()
    other.request_log.clear()
    progress, results = run(tmp_path, base + "index.html", max_depth=3)
    assert progress.error is None
    assert all(r.url.startswith(base) for r in results)
    assert other.request_log == []  # same host, other port: never contacted
    assert {host for _, host, _ in main.request_log} == {urlsplit(base).netloc}  # "localhost" link not followed
    pages = by_path(results)
    # One result per page despite "#part" and "./" variants; identical text is stored once.
    assert len(results) == len({r.url for r in results})
    page2, copy = pages["/page2.html"], pages["/copy.html"]
    assert sorted([page2.ok, copy.ok]) == [False, True]
    duplicate, original = (copy, page2) if page2.ok else (page2, copy)
    assert duplicate.skipped_reason == f"duplicate of {original.url}"
    assert pages["/sub/"].ok and pages["/sub/"].depth == 1  # followed the directory redirect
    assert pages["/redirect-away"].skipped_reason.startswith("redirect leaves the site")
    assert pages["/missing.html"].error == "HTTP 404"
    assert pages["/picture.png"].skipped_reason == "not HTML (image/png)"
    assert pages["/private/secret.html"].skipped_reason == "blocked by robots.txt"
    assert "/private/secret.html" not in [path for path, _, _ in main.request_log]
    assert set(pages) == {
        "/index.html",
        "/page2.html",
        "/copy.html",
        "/sub/",
        "/redirect-away",
        "/missing.html",
        "/picture.png",
        "/private/secret.html",
    }


# --- failures and skips ---------------------------------------------------------------------------------


def test_dead_links_are_recorded_as_http_404(site, tmp_path):
    base, _ = site
    progress, results = run(tmp_path, base + "glossary.html", max_depth=1, max_pages=1000)
    dead = by_path(results)["/usr/share/doc/python3-doc/html/library/functions.html"]
    assert (dead.status, dead.error, dead.elements, dead.depth) == (404, "HTTP 404", None, 1)
    assert progress.pages_failed == len([r for r in results if r.error]) >= 1
    assert progress.error is None  # a dead link is not a failed crawl


def test_non_html_links_are_skipped_with_reason(site, tmp_path):
    base, _ = site
    _, results = run(tmp_path, base + "internals/contributing/triaging-tickets.html", max_depth=1, max_pages=1000)
    svg = by_path(results)["/_images/triage_process.svg"]
    assert (svg.status, svg.skipped_reason, svg.elements) == (200, "not HTML (image/svg+xml)", None)


def test_unreachable_start_url_ends_the_crawl_with_an_error(tmp_path):
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    progress, results = run(tmp_path, f"http://127.0.0.1:{port}/")
    assert progress.finished and progress.error == "start URL failed: connection refused"
    assert [r.error for r in results] == ["connection refused"]
    assert time.monotonic() - started < 15


def test_silent_server_times_out(tmp_path):
    with socket.socket() as sock:  # the kernel accepts the connection; nobody ever answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        progress, results = run(tmp_path, f"http://127.0.0.1:{sock.getsockname()[1]}/", timeout=1, obey_robots=False)
    assert progress.error == "start URL failed: timeout after 1s"
    assert results[0].error == "timeout after 1s"


# --- running crawls -------------------------------------------------------------------------------------


def test_progress_counts_increase_while_running(site, tmp_path):
    base, _ = site
    handle = start_crawl(CrawlConfig(allow_private=True, start_url=base + "index.html", max_pages=30), out_dir=tmp_path)
    seen: list[int] = []
    collected: list[PageResult] = []
    with handle:
        deadline = time.monotonic() + WAIT
        while not (progress := handle.poll()).finished and time.monotonic() < deadline:
            seen.append(progress.pages_processed)
            collected.extend(handle.pages())  # incremental: each call returns only new lines
            time.sleep(0.05)
    collected.extend(handle.pages())
    assert progress.finished and progress.pages_processed == 30
    assert seen == sorted(seen)
    assert any(0 < count < 30 for count in seen)
    assert progress.pages_found >= progress.pages_processed
    assert len(collected) == len({r.url for r in collected}) == len((tmp_path / "pages.jsonl").read_text().splitlines())
    assert list(handle.pages()) == []


def test_cancel_stops_the_crawl_promptly(site, tmp_path):
    base, _ = site
    handle = start_crawl(
        CrawlConfig(allow_private=True, start_url=base + "index.html", max_depth=10, max_pages=1000), out_dir=tmp_path
    )
    with handle:
        deadline = time.monotonic() + WAIT
        while handle.poll().pages_processed < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        started = time.monotonic()
        handle.cancel()
        progress = handle.poll()
    assert time.monotonic() - started < 5
    assert progress.finished and progress.error == "cancelled"
    assert 5 <= progress.pages_processed < SITE_PAGES
    assert len(stored(list(handle.pages()))) >= 5  # what was crawled before the cancel stays readable
    with pytest.raises(ProcessLookupError):
        os.kill(handle.pid, 0)


def test_killed_child_is_reported_not_waited_for(site, tmp_path):
    base, _ = site
    handle = start_crawl(
        CrawlConfig(allow_private=True, start_url=base + "index.html", max_depth=10, max_pages=1000), out_dir=tmp_path
    )
    with handle:
        deadline = time.monotonic() + WAIT
        while handle.poll().pages_processed < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(handle.pid, signal.SIGKILL)  # what the OOM killer would do
        progress = handle.wait(timeout=10)
    assert progress.finished
    assert progress.error.startswith("crawler process exited unexpectedly (exit code -9)")


def test_elements_of_a_real_page_contain_its_headings(site, tmp_path):
    base, _ = site
    [page] = crawl(
        CrawlConfig(allow_private=True, start_url=base + "topics/http/urls.html", max_pages=1), out_dir=tmp_path
    )
    assert page.title == "URL dispatcher — Django 3.2.25 documentation"
    titles = [e["text"] for e in page.elements if e["type"] == "Title"]
    assert titles[:3] == ["URL dispatcher", "Overview", "How Django processes a request"]
    assert page.content_hash and len(page.content_hash) == 64


# --- validation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"start_url": "ftp://example.com/"}, "start_url"),
        ({"start_url": "http://"}, "start_url"),
        ({"start_url": "example.com"}, "start_url"),
        ({"start_url": "http://user:secret@example.com/"}, "start_url"),
        ({"start_url": "http://example.com/", "max_depth": 0}, "max_depth"),
        ({"start_url": "http://example.com/", "max_depth": 11}, "max_depth"),
        ({"start_url": "http://example.com/", "max_pages": 0}, "max_pages"),
        ({"start_url": "http://example.com/", "max_pages": 1001}, "max_pages"),
        ({"start_url": "http://example.com/", "max_pages": True}, "max_pages"),
        ({"start_url": "http://example.com/", "include_patterns": ["(unclosed"]}, "include_patterns"),
        ({"start_url": "http://example.com/", "exclude_patterns": ["*.pdf"]}, "exclude_patterns"),
        ({"start_url": "http://example.com/docs/", "exclude_patterns": ["/docs/"]}, "exclude_patterns"),
        ({"start_url": "http://example.com/", "max_page": 5}, "max_page"),
    ],
)
def test_validation_errors_name_the_field(data, field):
    with pytest.raises(ValueError, match=rf"^{field}: "):
        validate_crawl_config(data)


def test_valid_config_is_normalised():
    config = validate_crawl_config(
        {"start_url": " https://example.com:8443/docs/ ", "max_pages": 1000, "exclude_patterns": ["glob:*.pdf", " "]}
    )
    assert config == CrawlConfig(
        start_url="https://example.com:8443/docs/", max_pages=1000, exclude_patterns=["glob:*.pdf"]
    )


def test_canonical_url():
    assert canonical_url("HTTP://Example.COM:80/a/./b/../c.html#frag") == "http://example.com/a/c.html"
    assert canonical_url("https://example.com") == "https://example.com/"
    assert canonical_url("http://example.com:8080/?b=1&a=2") == "http://example.com:8080/?b=1&a=2"


# --- linear-time patterns (issue 15) ---------------------------------------------------------------------

CATASTROPHIC = ["(a+)+b", "(x+x+)+y", "(a|aa)+$", "(.*a){12}"]  # exponential on backtracking engines


@pytest.fixture(scope="module")
def long_url_site(tmp_path_factory):
    """Pages whose URLs are thousands of "a"s long: what makes backtracking regexes explode."""
    root = tmp_path_factory.mktemp("long_urls")
    # A file name holds at most 255 bytes: the length is spread over nested directories of "a"s (each URL
    # stays under Scrapy's URLLENGTH_LIMIT of 2083).
    names = ["/".join(["a" * 200] * (6 + n) + ["a" * (100 + n) + ".html"]) for n in range(4)]
    anchors = "".join(f'<a href="{name}">page {n}</a> ' for n, name in enumerate(names))
    (root / "index.html").write_text(f"<html><body><h1>Long</h1><p>{anchors}</p></body></html>")
    for n, name in enumerate(names):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(f"<html><body><h1>Page {n}</h1><p>Reached by a very long URL.</p></body></html>")
    server = _serve(root)
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_catastrophic_patterns_match_in_linear_time():
    from drafts.crawler.config import compile_patterns, matches_any

    patterns = compile_patterns(CATASTROPHIC)
    url = "http://example.com/" + "a" * 200_000  # "(a+)+b" on backtracking `re` never ends on 30 of these
    started = time.perf_counter()
    assert not matches_any(patterns[:2], url)
    assert matches_any(patterns, url)  # "(a|aa)+$" matches: answered, not hung
    assert time.perf_counter() - started < 1.0


def test_a_crawl_with_catastrophic_patterns_ends_within_its_limits(long_url_site, tmp_path):
    from drafts.crawler.handle import CrawlLimits

    started = time.monotonic()
    config = CrawlConfig(
        allow_private=True,
        start_url=long_url_site + "index.html",
        max_depth=1,
        include_patterns=["(a+)+b", "(a|aa)+\\.html$"],
        exclude_patterns=["(x+x+)+y"],
    )
    limits = CrawlLimits(cpu_seconds=20, memory_mb=1024, max_seconds=20)
    with start_crawl(config, out_dir=tmp_path, limits=limits) as handle:
        progress = handle.wait(timeout=WAIT)
        results = list(handle.pages())
    assert progress.finished and progress.error is None
    assert len(stored(results)) == 4 and all(len(urlsplit(r.url).path) > 1300 for r in stored(results))
    assert by_path(results)["/index.html"].skipped_reason == "not matched by include_patterns"
    assert time.monotonic() - started < 15


def test_the_start_url_exclusion_check_is_linear_time_too():
    started = time.perf_counter()
    with pytest.raises(ValueError, match="^exclude_patterns: excludes the start URL itself"):
        validate_crawl_config({"start_url": "http://example.com/" + "a" * 1900, "exclude_patterns": ["(a|aa)+$"]})
    validate_crawl_config({"start_url": "http://example.com/" + "a" * 1900, "exclude_patterns": ["(a+)+b"]})
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(?=docs)", "look-around and back-references are not supported"),
        ("(?<!x)docs", "look-around and back-references are not supported"),
        (r"(a)\1", "look-around and back-references are not supported"),
        ("a{1000}{1000}", "bad repetition operator"),
        ("(" * 30 + ")" * 29, "missing )"),
        ("x" * 501, "longer than 500 characters"),
    ],
)
def test_unsupported_or_oversized_patterns_are_refused_naming_them(pattern, message):
    with pytest.raises(ValueError, match=r"^include_patterns: ") as info:
        validate_crawl_config({"start_url": "http://example.com/", "include_patterns": ["/docs/", pattern]})
    assert message in str(info.value) and repr(pattern[:20])[1:-1] in str(info.value)


def test_too_many_patterns_are_refused():
    with pytest.raises(ValueError, match="^exclude_patterns: at most 50 patterns"):
        validate_crawl_config({"start_url": "http://example.com/", "exclude_patterns": [f"/p{n}/" for n in range(51)]})


@pytest.mark.parametrize(
    ("glob", "url", "matches"),
    [
        ("glob:*.pdf", "http://example.com/a/b.pdf", True),
        ("glob:*.pdf", "http://example.com/a/b.pdf?x=1", False),  # whole URL, like fnmatch
        ("glob:*/docs/*", "http://example.com/docs/x.html", True),
        ("glob:*/docs/*", "http://example.com/api/x.html", False),
        ("glob:*/v?/*", "http://example.com/v2/x", True),
        ("glob:*.com/[!a]*.html", "http://example.com/b.html", True),
        ("glob:*.com/[!a]*.html", "http://example.com/a.html", False),
        ("glob:*/[ab].html", "http://example.com/b.html", True),
        ("glob:*(a+)+b*", "http://example.com/(a+)+b", True),  # regex characters are literal in a glob
        ("glob:*(a+)+b*", "http://example.com/aaab", False),
    ],
)
def test_globs_match_the_whole_url_with_literal_regex_characters(glob, url, matches):
    from drafts.crawler.config import compile_patterns, matches_any

    assert matches_any(compile_patterns([glob]), url) is matches


# --- limits of the crawl child (issue 15) ------------------------------------------------------------------


class _Heavy(BaseHTTPRequestHandler):
    """/heavy: an 8.6 MB page of 300,000 paragraphs (about 3 s of CPU to parse); /slow: bytes trickle forever;
    /light: a small page."""

    body = ("<html><body>" + "".join(f"<p>word {i} <b>x</b> y</p>" for i in range(300_000)) + "</body></html>").encode()

    def do_GET(self):
        if self.path == "/light":
            body = b"<html><head><title>Light</title></head><body><h1>Light</h1><p>A small page.</p></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"<p>.</p>")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                return
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        try:
            self.wfile.write(self.body)
        except OSError:
            pass

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def heavy_site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Heavy)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _limited(tmp_path, url: str, limits) -> tuple[CrawlProgress, float]:
    started = time.monotonic()
    config = CrawlConfig(allow_private=True, start_url=url, max_pages=1, obey_robots=False, timeout=60)
    with start_crawl(config, out_dir=tmp_path, limits=limits) as handle:
        progress = handle.wait(timeout=WAIT)
    return progress, time.monotonic() - started


def test_crawl_child_over_its_cpu_limit_ends_with_the_reason(heavy_site, tmp_path):
    from drafts.crawler.handle import CrawlLimits

    progress, _ = _limited(tmp_path, heavy_site + "/heavy", CrawlLimits(cpu_seconds=2))
    assert progress.finished
    assert progress.error == "crawl stopped: it used more than 2 seconds of CPU time (CRAWL_CPU_SECONDS)"
    # The same page within a normal budget is parsed: the limit, not the page, ended the first crawl.
    progress, _ = _limited(tmp_path / "again", heavy_site + "/heavy", CrawlLimits())
    assert progress.error is None and progress.pages_processed == 1


def test_crawl_child_over_its_wall_clock_limit_ends_with_the_reason(heavy_site, tmp_path):
    from drafts.crawler.handle import CrawlLimits

    progress, elapsed = _limited(tmp_path, heavy_site + "/slow", CrawlLimits(max_seconds=2))
    assert progress.error == "crawl stopped: it ran longer than 2 seconds (CRAWL_MAX_SECONDS)"
    assert elapsed < 8


def test_a_child_that_cannot_stop_itself_is_killed_at_its_wall_clock(heavy_site, tmp_path, monkeypatch):
    """Inside lxml (C code) the child's own alarm handler cannot run: the parent kills it after the grace."""
    from drafts.crawler import handle as handle_module
    from drafts.crawler.handle import CrawlLimits

    monkeypatch.setattr(handle_module, "WALL_CLOCK_GRACE_SECONDS", 0.0)
    progress, elapsed = _limited(tmp_path, heavy_site + "/heavy", CrawlLimits(max_seconds=1))
    assert progress.finished and progress.error == "crawl stopped: it ran longer than 1 seconds (CRAWL_MAX_SECONDS)"
    assert elapsed < 6


def test_crawl_child_over_its_memory_limit_ends_with_the_reason(tmp_path):
    from drafts.crawler.handle import CrawlLimits

    progress, _ = _limited(tmp_path, "http://127.0.0.1:9/", CrawlLimits(memory_mb=60))
    assert progress.finished
    assert progress.error == "crawl stopped: it needed more than 60 MB of memory (CRAWL_MEMORY_MB)"


def test_limits_come_from_the_settings(settings):
    from drafts.crawler.handle import CrawlLimits

    settings.CRAWL_CPU_SECONDS, settings.CRAWL_MEMORY_MB, settings.CRAWL_MAX_SECONDS = 7, 300, 40
    assert CrawlLimits.from_settings() == CrawlLimits(cpu_seconds=7, memory_mb=300, max_seconds=40)


@pytest.mark.slow
def test_a_crawl_over_its_limit_fails_the_source_and_the_worker_goes_on(worker_process, workspace, owner, heavy_site):
    """A real worker with CRAWL_CPU_SECONDS=2: the crawl of a page that needs more ends as an error with the
    reason, and the same worker then crawls the next source."""
    from drafts.models import DraftSource
    from drafts.services import draft_create, draft_source_add_website

    worker = worker_process(CRAWL_ALLOW_PRIVATE="true", CRAWL_CPU_SECONDS="2")
    draft = draft_create(workspace=workspace, user=owner, name="Heavy")
    heavy = draft_source_add_website(
        draft=draft, user=owner, url=heavy_site + "/heavy", crawl_config={"max_depth": 1, "max_pages": 1}
    )
    deadline = time.monotonic() + 120
    while DraftSource.objects.get(pk=heavy.pk).is_unfinished:
        assert time.monotonic() < deadline, (
            f"the heavy crawl did not end: {DraftSource.objects.get(pk=heavy.pk).__dict__}"
        )
        time.sleep(0.2)
    heavy = DraftSource.objects.get(pk=heavy.pk)
    assert heavy.status == "error", heavy.error
    assert heavy.error == "crawl stopped: it used more than 2 seconds of CPU time (CRAWL_CPU_SECONDS)"
    assert worker.poll() is None  # the worker process is still running
    light = draft_source_add_website(draft=draft, user=owner, url=heavy_site + "/light", crawl_config={"max_pages": 1})
    while DraftSource.objects.get(pk=light.pk).is_unfinished:
        assert time.monotonic() < deadline + 60, "the worker did not finish the next source"
        time.sleep(0.2)
    light = DraftSource.objects.get(pk=light.pk)
    assert (light.status, light.pages_processed) == ("completed", 1), light.error
    assert worker.poll() is None


# --- patterns are checked when saved, at every door -----------------------------------------------------

BAD_PATTERNS = [("(?=docs)", "look-around"), (r"(\w+)\1", "back-references"), ("*.pdf", "no argument for repetition")]


@pytest.mark.parametrize(("pattern", "message"), BAD_PATTERNS)
def test_the_api_refuses_an_unsupported_pattern_with_a_400_naming_it(client_for, owner, workspace, pattern, message):
    from drafts.models import DraftSource
    from drafts.services import draft_create

    draft = draft_create(workspace=workspace, user=owner, name="Patterns")
    client = client_for(owner)
    body = {"url": "http://127.0.0.1:9/", "crawl_config": {"exclude_patterns": ["/ok/", pattern]}}
    response = client.post(f"/api/v1/kb-drafts/{draft.pk}/sources/website", body, content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]  # the one error shape (privexbot/api/exceptions.py)
    assert error["code"] == "validation_error" and list(error["details"]) == ["crawl_config.exclude_patterns"]
    assert repr(pattern)[1:-1] in error["message"] and message in error["message"]
    assert not DraftSource.objects.filter(draft=draft).exists()


@pytest.mark.parametrize(("pattern", "message"), BAD_PATTERNS)
def test_the_service_and_the_wizard_form_refuse_it_too(owner, workspace, pattern, message):
    from django.core.exceptions import ValidationError

    from drafts.forms import WebsiteSourceForm
    from drafts.services import draft_create, draft_source_add_website

    draft = draft_create(workspace=workspace, user=owner, name="Patterns")
    with pytest.raises(ValidationError) as info:
        draft_source_add_website(
            draft=draft, user=owner, url="http://127.0.0.1:9/", crawl_config={"include_patterns": [pattern]}
        )
    [text] = info.value.message_dict["crawl_config.include_patterns"]
    assert repr(pattern)[1:-1] in text and message in text
    form = WebsiteSourceForm(
        {"url": "http://127.0.0.1:9/", "max_depth": 1, "max_pages": 5, "include_patterns": f"/ok/\n{pattern}"}
    )
    assert not form.is_valid()
    [text] = form.errors["include_patterns"]
    assert repr(pattern)[1:-1] in text and message in text


def test_catastrophic_but_valid_patterns_are_accepted_and_saved(owner, workspace, no_enqueue):
    """RE2 runs them in linear time, so there is nothing to refuse: they are saved as written."""
    from drafts.services import draft_create, draft_source_add_website

    draft = draft_create(workspace=workspace, user=owner, name="Patterns")
    source = draft_source_add_website(
        draft=draft,
        user=owner,
        url="http://127.0.0.1:9/" + "a" * 1900,
        crawl_config={"include_patterns": ["(a+)+b"], "exclude_patterns": ["(x+x+)+y"]},
    )
    assert source.crawl_config["include_patterns"] == ["(a+)+b"]


# --- the pinned connection keeps the URL's host name --------------------------------------------------


@pytest.fixture
def tls_site(tmp_path):
    """HTTPS on 127.0.0.1 with a self-signed certificate for "localhost", recording each TLS server name
    (SNI) and Host header it receives."""
    import datetime
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server_names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    context.sni_callback = lambda sock, server_name, ctx: server_names.append(server_name)
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text("<html><body><h1>Over TLS</h1><p>Fetched over HTTPS.</p></body></html>")
    server = _serve(root)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield f"https://localhost:{server.server_address[1]}/", server, server_names
    server.shutdown()
    server.server_close()


def test_https_through_the_pinned_resolver_keeps_the_host_name_for_sni_and_host(tls_site, tmp_path):
    url, server, server_names = tls_site
    progress, results = run(tmp_path, url + "index.html", max_pages=1, obey_robots=False)
    assert progress.error is None and [r.url for r in stored(results)] == [url + "index.html"]
    assert set(server_names) == {"localhost"}  # TLS server name: the URL's host, not the pinned 127.0.0.1
    assert {host for _, host, _ in server.request_log} == {urlsplit(url).netloc}
