"""The HTML routes that upload, preview or search (privexbot/ratelimit.py): over the per-user budget → 429 with
the time to wait (an HTMX fragment for #alerts, a page otherwise); a Content-Length over the limit → 413 before one
byte of the body is read; the CSRF check still holds on each of them."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from drafts.models import DraftSource

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def own_counters(settings):
    """Counters of this test only: user ids start again in every test database, Redis outlives it."""
    settings.RATELIMIT_CACHE_PREFIX = f"rl-test-{uuid.uuid4().hex}:"


class UnreadBody:
    """A wsgi.input that records every read: the refusal must come before the body is touched."""

    def __init__(self):
        self.reads = 0

    def read(self, *args):
        self.reads += 1
        return b""

    def readline(self, *args):
        self.reads += 1
        return b""


def _post_claiming(client, url, length: int, **extra):
    body = UnreadBody()
    response = client.generic(
        "POST",
        url,
        CONTENT_TYPE="multipart/form-data; boundary=xyz",
        CONTENT_LENGTH=str(length),
        **{"wsgi.input": body},
        **extra,
    )
    return response, body


def _routes(draft, kb):
    """(name, url, method, valid data): each route with the limiter on it."""
    return [
        ("add_text", reverse("drafts:add_text", args=[draft.pk]), "post", {"title": "T", "content": "Some text."}),
        (
            "add_website",
            reverse("drafts:add_website", args=[draft.pk]),
            "post",
            {"url": "not a url", "max_depth": 1, "max_pages": 1},
        ),
        ("chunking_preview", reverse("drafts:chunking_preview", args=[draft.pk]), "post", {"strategy": "recursive"}),
        ("search", reverse("kb:search", args=[kb.pk]), "get", {"query": "refund", "mode": "keyword", "top_k": 3}),
        ("import", reverse("kb:import"), "post", {}),
    ]


@pytest.mark.parametrize("index", range(5))
def test_each_route_answers_429_past_its_budget(client_for, owner, draft, kb, settings, index):
    settings.HTML_THROTTLE_HEAVY = "2/min"
    name, url, method, data = _routes(draft, kb)[index]
    client = client_for(owner)
    send = getattr(client, method)
    for _ in range(2):
        assert send(url, data).status_code != 429, name
    refused = send(url, data)
    assert refused.status_code == 429, name
    assert 1 <= int(refused["Retry-After"]) <= 60
    html = refused.content.decode()
    assert "Too many requests" in html and "Try again in" in html and "<html" in html  # a whole page


def test_upload_route_answers_429_past_its_budget(client_for, owner, draft, settings, tmp_path):
    settings.HTML_THROTTLE_HEAVY = "1/min"
    url = reverse("drafts:add_files", args=[draft.pk])
    client = client_for(owner)
    first = tmp_path / "a.txt"
    first.write_text("Refunds are issued within 14 days.")
    with first.open("rb") as handle:
        assert client.post(url, {"files": handle}, **HTMX).status_code == 200
    with first.open("rb") as handle:
        refused = client.post(url, {"files": handle}, **HTMX)
    assert refused.status_code == 429
    assert DraftSource.objects.filter(draft=draft).count() == 1  # the refused upload stored nothing


def test_htmx_refusal_is_a_fragment_for_the_alert_region(client_for, owner, kb, settings):
    settings.HTML_THROTTLE_HEAVY = "1/min"
    url = reverse("kb:search", args=[kb.pk])
    client = client_for(owner)
    client.get(url, {"query": "a", "mode": "keyword", "top_k": 3}, **HTMX)
    refused = client.get(url, {"query": "a", "mode": "keyword", "top_k": 3}, **HTMX)
    assert refused.status_code == 429
    assert refused["HX-Retarget"] == "#alerts" and refused["HX-Reswap"] == "innerHTML"
    html = refused.content.decode()
    assert "<html" not in html and 'class="alert error"' in html and "Try again in" in html


def test_budgets_are_per_user_and_per_kind(client_for, owner, member, draft, kb, settings):
    settings.HTML_THROTTLE_HEAVY = "1/min"
    search = reverse("kb:search", args=[kb.pk])
    preview = reverse("drafts:chunking_preview", args=[draft.pk])
    owner_client = client_for(owner)
    assert owner_client.get(search, {"query": "a", "mode": "keyword"}).status_code == 200
    assert owner_client.get(search, {"query": "a", "mode": "keyword"}).status_code == 429
    assert owner_client.post(preview, {"strategy": "recursive"}).status_code != 429  # another kind
    other = Client()
    other.force_login(member)
    assert other.get(search, {"query": "a", "mode": "keyword"}).status_code == 200  # another user


@pytest.mark.parametrize("route", ["add_files", "add_text", "add_website", "chunking_preview"])
def test_oversize_is_413_before_the_body_is_read(client_for, owner, draft, settings, route):
    settings.MAX_FILE_SIZE = 2 * 2**20
    settings.UPLOAD_MAX_REQUEST_SIZE = 4 * 2**20
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2**20
    url = reverse(f"drafts:{route}", args=[draft.pk])
    limit = (4 if route == "add_files" else 1) * 2**20 + 2**20  # the request limit plus the form's slack
    client = client_for(owner)
    refused, body = _post_claiming(client, url, limit + 1)
    assert refused.status_code == 413
    assert body.reads == 0
    assert "larger than the" in refused.content.decode()
    assert not DraftSource.objects.filter(draft=draft).exists()
    htmx, body = _post_claiming(client, url, 10 * 2**30, **HTMX)  # 10 GB claimed, nothing sent
    assert htmx.status_code == 413 and body.reads == 0
    assert htmx["HX-Retarget"] == "#alerts" and "<html" not in htmx.content.decode()


def test_oversize_is_refused_before_login_or_csrf_are_consulted(client, draft):
    refused, body = _post_claiming(client, reverse("drafts:add_files", args=[draft.pk]), 10 * 2**30)
    assert refused.status_code == 413 and body.reads == 0


def test_a_body_within_the_limit_is_read_and_handled(client_for, owner, draft, settings, tmp_path):
    settings.UPLOAD_MAX_REQUEST_SIZE = 4 * 2**20
    path = tmp_path / "notes.txt"
    path.write_text("Opening hours are nine to five on weekdays.")
    with path.open("rb") as handle:
        response = client_for(owner).post(reverse("drafts:add_files", args=[draft.pk]), {"files": handle})
    assert response.status_code == 302
    assert DraftSource.objects.filter(draft=draft, name="notes.txt").exists()


@pytest.mark.parametrize("route", ["add_files", "add_text", "add_website", "chunking_preview"])
def test_csrf_is_still_checked_on_the_limited_routes(owner, draft, route):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post(reverse(f"drafts:{route}", args=[draft.pk]), {"title": "T", "content": "x"})
    assert response.status_code == 403
    assert not DraftSource.objects.filter(draft=draft).exists()


def test_import_page_keeps_csrf(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(reverse("kb:import"), {}).status_code == 403
