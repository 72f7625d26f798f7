"""The crawler refuses private, loopback and link-local addresses unless CRAWL_ALLOW_PRIVATE allows them."""

import pytest
from django.core.exceptions import ValidationError
from scrapy import Request

from drafts.crawler import CrawlConfig, crawl
from drafts.crawler.errors import BlockedAddress
from drafts.crawler.netguard import blocked_reason
from drafts.services import draft_create, draft_source_add_website


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "[::1]", "192.168.0.10", "localhost"]
)
def test_private_and_local_addresses_are_refused(host):
    reason = blocked_reason(host)
    assert reason and "private or local address" in reason and "CRAWL_ALLOW_PRIVATE" in reason


@pytest.mark.parametrize("host", ["8.8.8.8", "2001:4860:4860::8888"])
def test_public_addresses_pass(host):
    assert blocked_reason(host) is None


def test_adding_a_private_url_is_a_clear_error_when_not_allowed(workspace, owner, settings):
    settings.CRAWL_ALLOW_PRIVATE = False
    draft = draft_create(workspace=workspace, user=owner, name="SSRF")
    for url in ("http://169.254.169.254/latest/meta-data/", "http://10.0.0.5/admin", "http://[::1]:8080/"):
        with pytest.raises(ValidationError) as info:
            draft_source_add_website(draft=draft, user=owner, url=url, crawl_config={})
        assert "private or local address" in info.value.message_dict["url"][0]
    assert not draft.sources.exists()


def test_the_crawler_refuses_a_private_start_url(docs_site, tmp_path):
    pages = crawl(CrawlConfig(start_url=docs_site + "/index.html", max_pages=2), out_dir=tmp_path)
    assert pages and all(not p.ok for p in pages)
    assert "private or local address" in pages[0].error


def test_redirects_pass_the_guard_too():
    """Scrapy sends a redirected request through the downloader middlewares again: the guard sees it."""
    from drafts.crawler.spider import PrivateAddressGuard

    class Spider:
        config = CrawlConfig(start_url="https://docs.example.org/")

    class Crawler:
        spider = Spider()

    guard = PrivateAddressGuard(Crawler())
    redirected = Request(
        "http://169.254.169.254/latest/meta-data/", meta={"redirect_urls": ["https://docs.example.org/"]}
    )
    with pytest.raises(BlockedAddress, match="169.254.169.254"):
        guard.process_request(redirected)
    Spider.config = CrawlConfig(start_url="https://docs.example.org/", allow_private=True)
    assert guard.process_request(redirected) is None
