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
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
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
