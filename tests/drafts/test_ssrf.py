"""The crawler refuses private, loopback and link-local addresses unless CRAWL_ALLOW_PRIVATE allows them.

End to end, in a network namespace with a rebinding DNS stub: test_ssrf_netns.py; URL forms: test_ssrf_forms.py."""

import pytest
from django.core.exceptions import ValidationError

from drafts.crawler import CrawlConfig, crawl, validate_crawl_config
from drafts.crawler.netguard import AddressPolicy, blocked_reason
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


def test_only_documentation_ranges_can_be_declared_public_for_tests():
    """The namespace tests' hook (CrawlConfig.test_public_networks) cannot open a real private network."""
    assert AddressPolicy(test_public_networks=("203.0.113.0/24",)).refusal("203.0.113.7") is None
    assert AddressPolicy().refusal("203.0.113.7")  # without the hook a TEST-NET address is not public
    for network in ("10.0.0.0/8", "127.0.0.0/8", "169.254.169.254/32", "0.0.0.0/0", "::/0", "fc00::/7"):
        with pytest.raises(ValueError, match="test_public_networks"):
            validate_crawl_config({"start_url": "http://example.com/", "test_public_networks": [network]})


def test_users_cannot_reach_the_test_hook_or_the_policy(workspace, owner, settings):
    settings.CRAWL_ALLOW_PRIVATE = False
    draft = draft_create(workspace=workspace, user=owner, name="SSRF")
    for field, value in (("test_public_networks", ["203.0.113.0/24"]), ("allow_private", True)):
        with pytest.raises(ValidationError) as info:
            draft_source_add_website(draft=draft, user=owner, url="http://127.0.0.1/", crawl_config={field: value})
        assert f"crawl_config.{field}" in info.value.message_dict


def test_allow_private_still_refuses_metadata_unspecified_and_multicast_addresses():
    intranet = AddressPolicy(allow_private=True)
    for address in ("127.0.0.1", "10.1.2.3", "192.168.0.10", "::1", "fd12::1"):
        assert intranet.refusal(address) is None
    for address in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "0.0.0.0", "::", "224.0.0.1"):  # noqa: S104
        assert intranet.refusal(address), address
    assert intranet.refusal("::ffff:169.254.169.254")  # also when embedded in an IPv6 address


def test_the_crawl_connects_through_the_pinned_resolver_and_never_a_proxy():
    from drafts.crawler.child import crawl_settings

    settings = crawl_settings(CrawlConfig(start_url="https://docs.example.org/"))
    assert settings["TWISTED_DNS_RESOLVER"] == "drafts.crawler.resolver.PinnedResolver"
    assert settings["HTTPPROXY_ENABLED"] is False
    assert settings["DOWNLOADER_MIDDLEWARES"]["scrapy.downloadermiddlewares.httpproxy.HttpProxyMiddleware"] is None
    assert settings["DOWNLOADER_MIDDLEWARES"]["drafts.crawler.spider.AddressGuard"] < 100  # before robots.txt
