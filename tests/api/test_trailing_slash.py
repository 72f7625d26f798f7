"""Every API route answers the same with and without its trailing slash (privexbot.api.routes): a walk over
every route of the URL resolver under /api/v1/, the schema's one path per route, and real requests in both forms."""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from drafts.models import KBDraft
from kb.models import Document, KnowledgeBase
from pages.api_urls import not_found
from privexbot.api.routes import SlashOptionalPattern

API = "api/v1/"
SAMPLES = {"uuid": str(uuid.UUID(int=7)), "int": "7", "str": "abc", "slug": "abc", "path": "a/b"}
CONVERTER = re.compile(r"<(?:(?P<kind>\w+):)?(?P<name>\w+)>")


def _endpoints(patterns, prefix=""):
    """(route as written, URLPattern, the patterns on its way) for every endpoint under `patterns`."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            for route_, endpoint, chain in _endpoints(pattern.url_patterns, route):
                yield route_, endpoint, [pattern.pattern, *chain]
        elif isinstance(pattern, URLPattern):
            yield route, pattern, [pattern.pattern]


def _api_routes():
    routes = []
    for route, endpoint, chain in _endpoints(get_resolver().url_patterns):
        if not route.startswith(API) or endpoint.callback is not_found:  # the catch-all 404 of /api/v1/
            continue
        routes.append((route, endpoint, chain))
    return routes


def _sample(route: str) -> str:
    return "/" + CONVERTER.sub(lambda m: SAMPLES[m["kind"] or "str"], route)


def _other_form(path: str) -> str:
    return path[:-1] if path.endswith("/") else path + "/"


def test_the_walk_finds_every_api_module():
    routes = {route for route, _, _ in _api_routes()}
    assert len(routes) >= 40, sorted(routes)
    for expected in (
        "api/v1/kb-drafts/",
        "api/v1/kb-drafts/<uuid:draft_id>/finalize",
        "api/v1/knowledge-bases/<uuid:kb_id>/",
        "api/v1/knowledge-bases/<uuid:kb_id>/search",
        "api/v1/workspaces/<uuid:workspace_id>/members/<int:user_id>/",
        "api/v1/tokens/",
        "api/v1/audit/",
        "api/v1/me/export",
        "api/v1/deletion-receipts/<uuid:receipt_id>",
        "api/v1/schema/",
    ):
        assert expected in routes, expected


@pytest.mark.parametrize("route", sorted({r for r, _, _ in _api_routes()}))
def test_every_api_route_resolves_the_same_with_and_without_the_slash(route):
    endpoint, chain = next((e, c) for r, e, c in _api_routes() if r == route)
    # registered through the helper, so a route added with Django's own path() fails here by name
    below_api = [p for p in chain if str(p) != API]
    assert all(isinstance(p, SlashOptionalPattern) for p in below_api), (route, [type(p).__name__ for p in chain])
    written = _sample(route)
    for path in (written, _other_form(written)):
        match = resolve(path)
        assert match.func is not not_found, (route, path)
        assert match.func == endpoint.callback, (route, path, match.func)
        assert match.url_name == endpoint.name, (route, path)
    first, second = resolve(written), resolve(_other_form(written))
    assert first.kwargs == second.kwargs and first.route == second.route
    if endpoint.name:  # reverse() gives the route as written: one canonical form
        assert reverse(endpoint.name, kwargs=first.kwargs) == written


def test_only_one_slash_is_optional():
    assert resolve(f"/api/v1/knowledge-bases/{SAMPLES['uuid']}//").func is not_found
    assert resolve("/api/v1/kb-drafts//").func is not_found
    assert resolve(f"/api/v1/knowledge-bases/{SAMPLES['uuid']}/searchx").func is not_found


@pytest.mark.django_db
def test_the_schema_shows_one_path_per_route(api):
    schema = api().get("/api/v1/schema/", {"format": "json"}).json()
    paths = set(schema["paths"])
    doubled = sorted(p for p in paths if _other_form(p) in paths)
    assert doubled == []
    assert "/api/v1/knowledge-bases/{kb_id}/" in paths and "/api/v1/knowledge-bases/{kb_id}/search" in paths


@pytest.mark.django_db
def test_real_requests_in_both_forms(api, owner, workspace, ready_kb):
    client = api(owner)
    kb_url = f"/api/v1/knowledge-bases/{ready_kb.pk}/"

    # GET: the same answer
    with_slash, without = client.get(kb_url), client.get(kb_url.rstrip("/"))
    assert with_slash.status_code == without.status_code == 200
    assert with_slash.json() == without.json()
    listed = client.get("/api/v1/knowledge-bases")
    assert listed.status_code == 200 and str(ready_kb.pk) in {k["id"] for k in listed.json()["results"]}

    # POST search: with the slash too (it is written without one)
    for url in (kb_url + "search", kb_url + "search/"):
        response = client.post(url, {"query": "refund policy", "mode": "keyword"}, format="json")
        assert response.status_code == 200, (url, response.content)
        assert response.json()["results"], url

    # POST without the include's slash: /api/v1/kb-drafts creates a draft (no redirect, the body is kept)
    created = client.post("/api/v1/kb-drafts", {"name": "No slash", "workspace_id": str(workspace.pk)}, format="json")
    assert created.status_code == 200, created.content
    draft_id = created.json()["draft_id"]
    assert KBDraft.objects.get(pk=draft_id).name == "No slash"
    # DELETE a draft with a slash it is written without
    assert client.delete(f"/api/v1/kb-drafts/{draft_id}/").status_code == 200
    assert not KBDraft.objects.filter(pk=draft_id).exists()

    # DELETE a document and the KB without the slash they are written with
    document = ready_kb.documents.get()
    assert client.delete(f"{kb_url}documents/{document.pk}").status_code == 204
    assert not Document.objects.filter(pk=document.pk).exists()
    assert client.delete(kb_url.rstrip("/")).status_code == 204
    assert not KnowledgeBase.objects.filter(pk=ready_kb.pk).exists()

    # an unknown route is still the API's 404 in the error shape, in both forms
    for url in ("/api/v1/nothing-here", "/api/v1/nothing-here/"):
        response = client.get(url)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
