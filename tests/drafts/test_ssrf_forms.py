"""100+ SSRF URL forms (issue 15's hostile-input suite): each is refused at the door with a clear 4xx, and none
is fetched by the crawl's real download stack inside a network namespace whose canaries count connections.

The door cases need no DNS server: every form is refused by its syntax, its literal address or a name the
machine resolves locally (localhost); a guard below fails the test if a door check would ask DNS anything else.
"""

from __future__ import annotations

import socket
import uuid

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from tests.drafts import netns

LONG = "a" * 5000
FORMS = [
    # IPv4 in every notation: loopback, metadata, private ranges, special-purpose
    "http://127.0.0.1/",
    "http://127.0.0.1:80/",
    "http://127.0.0.1:8080/admin",
    "http://127.1/",
    "http://127.0.1/",
    "http://0x7f.0.0.1/",
    "http://0x7f000001/",
    "http://2130706433/",
    "http://017700000001/",
    "http://0177.0.0.1/",
    "http://0177.0000.0000.0001/",
    "http://00000177.0.0.01/",
    "http://0x7f.1/",
    "http://127.000.000.001/",
    "http://0/",
    "http://0.0.0.0/",
    "http://0.0.0.0:8000/",
    "http://169.254.169.254/latest/meta-data/",
    "http://2852039166/latest/meta-data/",
    "http://0xa9fea9fe/",
    "http://0xA9.0xFE.0xA9.0xFE/",
    "http://0251.0376.0251.0376/",
    "http://169.254.43518/",
    "http://169.16689662/",
    "http://169.254.170.2/v2/credentials",
    "http://10.0.0.1/",
    "http://167772161/",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://100.64.0.1/",
    "http://100.100.100.200/latest/meta-data/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",
    "http://198.18.0.1/",
    "http://192.0.0.8/",
    # IPv6 forms
    "http://[::1]/",
    "http://[::1]:8080/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[::127.0.0.1]/",
    "http://[::7f00:1]/",
    "http://[::ffff:0:127.0.0.1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fc00::1]/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[fd12:3456::1]/",
    "http://[fec0::1]/",
    "http://[2002:7f00:1::]/",
    "http://[2002:a9fe:a9fe::1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",  # Teredo, client 127.0.0.1
    "http://[ff02::1]/",
    "http://[100::1]/",
    "http://[::1%25lo]/",
    # user-info, fragment and query tricks
    "http://public@127.0.0.1/",
    "http://docs.example.com@127.0.0.1/",
    "http://user:pass@169.254.169.254/",
    "http://127.0.0.1#@docs.example.com/",
    "http://127.0.0.1?@docs.example.com/",
    "http://127.0.0.1:80@docs.example.com/",
    "http://[::1]@docs.example.com/",
    "http://%40@127.0.0.1/",
    "http://docs.example.com:80:80@127.0.0.1/",
    # backslashes, spaces and control characters (parsers disagree on them)
    "http://127.0.0.1\\@docs.example.com/",
    "http:\\\\127.0.0.1\\",
    "http://docs.example.com\\@127.0.0.1/",
    "http:/\\127.0.0.1/",
    "http://127.0.0.1 /",
    "http://127.0.0.1\t/",
    "http://127.0.0.1\x00.docs.example.com/",
    "http://docs.example.com\r\nHost: 127.0.0.1/",
    # names for loopback, IDN and percent-encoded hosts, trailing dots
    "http://localhost/",
    "http://localhost./",
    "http://LOCALHOST/",
    "http://LocalHost:8080/",
    "http://localhost.:8080/",
    "http://127.0.0.1./",
    "http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/",
    "http://１２７.０.０.１/",
    "http://127。0。0。1/",
    "http://%6c%6f%63%61%6c%68%6f%73%74/",
    "http://%31%32%37%2e%30%2e%30%2e%31/",
    "http://127.0.0.1%2f@docs.example.com/",
    "http://127.0.0.1..//",
    # other and odd schemes
    "file:///etc/passwd",
    "file://localhost/etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
    "ftp://127.0.0.1/",
    "dict://127.0.0.1:11211/stat",
    "ldap://127.0.0.1/",
    "sftp://127.0.0.1/",
    "jar:http://127.0.0.1!/",
    "data:text/html,<h1>x</h1>",
    "javascript:alert(1)",
    "HTTP://127.0.0.1/",
    "HtTpS://169.254.169.254/",
    "//127.0.0.1/",
    "127.0.0.1",
    "http:127.0.0.1",
    "http:///127.0.0.1/",
    # ports
    "http://127.0.0.1:0/",
    "http://127.0.0.1:65536/",
    "http://127.0.0.1:-1/",
    "http://127.0.0.1:22/",
    "http://127.0.0.1:6379/",
    "http://[::1]:6379/",
    "http://169.254.169.254:80/latest/meta-data/iam/",
    # very long
    f"http://127.0.0.1/{LONG}",
    f"http://127.0.0.1/?q={LONG}",
    f"http://{'a' * 64}.test/",
]
LOCAL_NAMES = {"localhost"}  # resolved from /etc/hosts, never by a DNS server


def test_there_are_at_least_a_hundred_distinct_forms():
    assert len(set(FORMS)) == len(FORMS) >= 100


@pytest.fixture
def no_dns(monkeypatch):
    """Fail loudly if a door check would send a DNS query (these tests must not leave the machine)."""
    real = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in name else socket.AF_INET, name)
            numeric = True
        except OSError:
            numeric = False
        if not numeric and name.lower().rstrip(".") not in LOCAL_NAMES:
            pytest.fail(f"a door check asked DNS for {name!r}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


@pytest.mark.django_db
@pytest.mark.parametrize("url", FORMS)
def test_the_service_refuses_the_form(url, draft, owner, settings, no_dns, no_enqueue):
    from drafts.services import draft_source_add_website

    settings.CRAWL_ALLOW_PRIVATE = False
    with pytest.raises(ValidationError) as info:
        draft_source_add_website(draft=draft, user=owner, url=url, crawl_config={})
    [message] = info.value.message_dict["url"]
    assert message.strip(), url
    assert not draft.sources.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("url", FORMS)
def test_the_api_answers_the_form_with_a_400_naming_the_url(url, draft, owner, settings, no_dns, monkeypatch):
    from privexbot.api import throttling
    from tenants.tokens import api_token_create

    settings.CRAWL_ALLOW_PRIVATE = False
    monkeypatch.setattr(throttling, "KEY_PREFIX", f"pxb:throttle-test:ssrf-forms:{uuid.uuid4().hex}")
    _, token = api_token_create(user=owner, name="ssrf", scopes=["admin"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.post(f"/api/v1/kb-drafts/{draft.pk}/sources/website", {"url": url}, format="json")
    assert response.status_code == 400, (url, response.status_code, response.content[:300])
    body = response.json()
    assert "url" in str(body), body
    assert not draft.sources.exists()


@pytest.mark.skipif(netns.unavailable_reason() is not None, reason="network namespaces unavailable")
def test_the_crawl_download_stack_fetches_none_of_the_forms():
    """Every form as a request through a crawl's own settings, middlewares and pinned resolver, in a namespace
    where the private addresses are canaries: no response, a refusal for each, and no connection to a canary."""
    result = netns.run_world([{"op": "batch", "urls": FORMS}])
    outcomes = result["steps"][0]["outcomes"]
    assert set(outcomes) == set(FORMS)
    assert {url: o for url, o in outcomes.items() if o["fetched"]} == {}
    # Scrapy's URLLENGTH_LIMIT (2083) drops over-long requests before the downloader, without an errback.
    dropped = {url for url, o in outcomes.items() if o["fetched"] is None}
    assert all(len(url) > 2083 for url in dropped), dropped
    assert all(o["reason"] for o in outcomes.values())
    assert result["canary"] == dict.fromkeys(netns.CANARY_ADDRESSES, 0)
    assert all(log == [] for log in result["site_log"].values())
