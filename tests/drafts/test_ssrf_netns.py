"""SSRF end to end, in a private network namespace with a rebinding DNS stub and canaries (issue 15).

Every test builds its own small internet (tests/drafts/netns.py) and runs real crawl children in it. The
canaries sit on private addresses (127.0.0.1, 10.255.255.1, 169.254.169.254, ::1); each test asserts its
canaries saw no connection, and the last test asserts that across every world of this module.
"""

from __future__ import annotations

import pytest

from tests.drafts import netns

REASON = netns.unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"network namespaces unavailable: {REASON}")

PROXIES = {
    "http_proxy": "http://10.255.255.1:80",
    "https_proxy": "http://10.255.255.1:80",
    "HTTP_PROXY": "http://127.0.0.1:80",
    "HTTPS_PROXY": "http://127.0.0.1:80",
    "ALL_PROXY": "http://169.254.169.254:80",
    "all_proxy": "http://169.254.169.254:80",
    "no_proxy": "",
}


def world(*steps: dict) -> dict:
    result = netns.run_world(list(steps))
    assert result["canary"] == dict.fromkeys(netns.CANARY_ADDRESSES, 0), result["canary"]
    return result


def crawl(start_url: str, **options) -> dict:
    return {"op": "crawl", "start_url": start_url, "options": options}


def stored(step: dict) -> list[dict]:
    return [page for page in step["pages"] if page["error"] is None and page["skipped_reason"] is None]


def texts(step: dict) -> str:
    return " ".join(element["text"] for page in step["pages"] for element in page["elements"] or [])


def test_the_stub_rebinds_so_a_second_lookup_would_reach_the_canary():
    """The control: plain getaddrinfo twice gets the public answer, then the private one."""
    result = world({"op": "lookups", "names": ["rebind-loopback.test", "rebind-private.test", "docs.public.test"]})
    answers = result["steps"][0]["answers"]
    assert answers["rebind-loopback.test"] == [[netns.PUBLIC_SITE], ["127.0.0.1"]]
    assert answers["rebind-private.test"] == [[netns.PUBLIC_SITE], ["10.255.255.1"]]
    assert answers["docs.public.test"] == [[netns.PUBLIC_SITE], [netns.PUBLIC_SITE]]


def test_control_a_guard_with_its_own_lookup_is_fooled_by_rebinding():
    """Shows this world catches the bug the pinned resolver fixes: the old design (vet one lookup, connect after
    another) fetches the canary's page. Not counted in the suite's canary total."""
    batch = {"op": "batch", "urls": ["http://rebind-loopback.test/"], "naive_guard": True}
    result = netns.run_world([batch], control=True)
    outcome = result["steps"][0]["outcomes"]["http://rebind-loopback.test/"]
    assert outcome["fetched"] and outcome["canary"], outcome
    assert result["canary"]["127.0.0.1"] >= 1


def test_without_the_pinned_resolver_every_request_is_refused():
    """Fail closed: if the crawl's settings lost the pinned resolver, the guard refuses instead of fetching."""
    batch = {
        "op": "batch",
        "urls": ["http://docs.public.test/index.html"],
        "settings": {"TWISTED_DNS_RESOLVER": "scrapy.resolver.CachingThreadedResolver"},
    }
    outcome = world(batch)["steps"][0]["outcomes"]["http://docs.public.test/index.html"]
    assert outcome["fetched"] is False and "guard is not installed" in outcome["reason"]


@pytest.mark.parametrize("name", ["rebind-loopback.test", "rebind-private.test", "rebind-metadata.test"])
def test_a_rebinding_name_is_fetched_only_from_its_first_vetted_answer(name):
    """One lookup per host per crawl: robots.txt, the start page and every linked page use that answer, so the
    private second answer is never connected to, and then the lookup that follows shows it would have been."""
    result = world(crawl(f"http://{name}/index.html", max_pages=4), {"op": "lookups", "names": [name]})
    step = result["steps"][0]
    assert step["progress"]["error"] is None, step["progress"]
    assert len(stored(step)) == 4
    assert {page["url"] for page in stored(step)} == {
        f"http://{name}/index.html",
        *(f"http://{name}/page{n}.html" for n in (1, 2, 3)),
    }
    assert netns.CANARY_TEXT not in texts(step)
    served = result["site_log"][netns.PUBLIC_SITE]
    assert {entry["host"] for entry in served} == {name}  # the original Host header, on the pinned address
    assert {entry["path"] for entry in served} == {
        "/robots.txt",
        "/index.html",
        "/page1.html",
        "/page2.html",
        "/page3.html",
    }
    assert result["dns"][f"{name}/A"] == 1 + 2  # the crawl's one lookup, then the control's two
    assert result["steps"][1]["answers"][name][0] != [netns.PUBLIC_SITE]  # the stub had rebound meanwhile


def test_a_name_answering_public_and_private_addresses_at_once_is_refused():
    result = world(crawl("http://mixed.test/index.html"))
    [page] = result["steps"][0]["pages"]
    assert "mixed.test resolves to a private or local address (10.255.255.1" in page["error"]
    assert result["site_log"][netns.PUBLIC_SITE] == []  # not even the public address of the answer


def test_a_redirect_to_the_metadata_endpoint_is_refused():
    target = "http://169.254.169.254/latest/meta-data/"
    result = world(crawl(f"http://docs.public.test/redirect?to={target}"))
    step = result["steps"][0]
    [page] = step["pages"]
    assert page["error"].startswith("refused: 169.254.169.254") and "cloud metadata endpoint" in page["error"]
    assert step["progress"]["error"].startswith("start URL failed: refused")
    assert [entry["path"] for entry in result["site_log"][netns.PUBLIC_SITE]] == [
        "/robots.txt",
        f"/redirect?to={target}",
    ]


def test_a_redirect_to_a_name_that_resolves_to_the_metadata_endpoint_is_refused():
    result = world(crawl("http://docs.public.test/redirect?to=http://metadata.test/latest/meta-data/"))
    [page] = result["steps"][0]["pages"]
    assert "metadata.test resolves to a private or local address (169.254.169.254" in page["error"]


@pytest.mark.parametrize(
    "target",
    [
        "http://2852039166/latest/meta-data/",  # 169.254.169.254 as one decimal number
        "http://0251.0376.0251.0376/latest/meta-data/",  # octal
        "http://0xa9fea9fe/latest/meta-data/",  # hex
        "http://0xA9.0xFE.0xA9.0xFE/",  # hex per byte
        "http://169.254.43518/",  # a.b.c16
        "http://127.1/",  # short form
        "http://017700000001/",  # octal loopback
    ],
)
def test_a_redirect_to_an_ip_address_in_another_notation_is_refused(target):
    result = world(crawl(f"http://docs.public.test/redirect?to={target}"))
    [page] = result["steps"][0]["pages"]
    assert page["error"].startswith("refused:") and "non-standard form" in page["error"], page["error"]


def test_redirects_to_ipv6_forms_of_private_addresses_are_refused():
    targets = ["http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:a9fe:a9fe]/", "http://[2002:7f00:1::]/"]
    result = world(*(crawl(f"http://docs.public.test/redirect?to={target}") for target in targets))
    for target, step in zip(targets, result["steps"], strict=True):
        [page] = step["pages"]
        assert page["error"].startswith("refused:") and "private or local address" in page["error"], (target, page)


def test_an_unresolvable_name_is_refused_with_a_clear_reason():
    """Fail closed: at the door, as a start URL, and as a redirect target inside a crawl."""
    result = world(
        {"op": "door", "urls": ["http://nowhere.test/"]},
        crawl("http://nowhere.test/"),
        crawl("http://docs.public.test/redirect?to=http://nowhere.test/secret"),
    )
    door, start, redirect = result["steps"]
    assert door["reasons"]["http://nowhere.test/"].startswith("refused: nowhere.test does not resolve")
    [page] = start["pages"]
    assert page["error"].startswith("refused: nowhere.test does not resolve")
    assert start["progress"]["error"] == f"start URL failed: {page['error']}"
    [page] = redirect["pages"]
    assert page["error"].startswith("refused: nowhere.test does not resolve")


def test_proxies_in_the_environment_are_ignored():
    """The proxy variables point at canaries: a crawl that used one would be counted there."""
    result = world(
        {**crawl("http://docs.public.test/index.html", max_pages=2), "env": PROXIES},
        {"op": "raw_child", "start_url": "http://other.public.test/index.html", "env": PROXIES},
    )
    through_parent, raw = result["steps"]
    assert through_parent["progress"]["error"] is None and len(stored(through_parent)) == 2
    assert raw["progress"]["error"] is None and len(stored(raw)) == 3
    assert {e["host"] for e in result["site_log"][netns.OTHER_PUBLIC_SITE]} == {"other.public.test"}


def test_ipv6_answers_are_pinned_and_vetted_too():
    """An AAAA-only public name is crawled over IPv6 on its pinned address; an AAAA answer that rebinds to ::1
    is never used; a name whose A record is public but whose AAAA record is loopback is refused outright."""
    result = world(
        crawl("http://v6.public.test/index.html", max_pages=2),
        crawl("http://rebind-v6.test/index.html", max_pages=4),
        crawl("http://dual.test/index.html"),
        crawl(f"http://[{netns.V6_PUBLIC_SITE}]/index.html", max_pages=1),
    )
    v6, rebind, dual, literal = result["steps"]
    assert v6["progress"]["error"] is None and len(stored(v6)) == 2
    assert rebind["progress"]["error"] is None and len(stored(rebind)) == 4
    assert netns.CANARY_TEXT not in texts(rebind)
    assert result["dns"]["rebind-v6.test/AAAA"] == 1
    [page] = dual["pages"]
    assert "dual.test resolves to a private or local address (::1" in page["error"]
    assert literal["progress"]["error"] is None and len(stored(literal)) == 1
    hosts = {entry["host"] for entry in result["site_log"][netns.V6_PUBLIC_SITE]}
    assert hosts == {"v6.public.test", "rebind-v6.test", f"[{netns.V6_PUBLIC_SITE}]"}
    assert result["site_log"][netns.PUBLIC_SITE] == []  # dual.test's public A record was not used either


def test_the_canaries_recorded_no_connection_across_the_suite():
    """Runs last in this module (pytest keeps file order)."""
    assert netns.WORLDS_RUN, "no namespace world ran"
    assert sum(netns.CANARY_TOTAL.values()) == 0, dict(netns.CANARY_TOTAL)
