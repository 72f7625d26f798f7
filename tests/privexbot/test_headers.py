"""The security headers (privexbot/security_headers.py): every response — pages, fragments, errors, JSON, downloads —
carries the strict Content-Security-Policy and the other headers, and no template holds what that policy refuses
(inline script or style, event-handler attributes, htmx attributes that eval)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]
HTMX = {"HTTP_HX_REQUEST": "true"}


def _directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def assert_strict(response) -> None:
    directives = _directives(response)
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["img-src"] == ["'self'", "data:"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    permissions = response["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"):
        assert feature in permissions


def test_anonymous_pages_carry_the_headers(client):
    assert_strict(client.get(reverse("login")))
    assert_strict(client.get(reverse("account_reset_password")))


def test_app_pages_fragments_and_errors_carry_the_headers(client_for, owner, kb):
    client = client_for(owner)
    for url in (reverse("home"), reverse("kb:detail", args=[kb.pk]), reverse("profile"), reverse("kb:import")):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_strict(response)
    fragment = client.get(reverse("kb:search", args=[kb.pk]), {"query": "x", "mode": "keyword"}, **HTMX)
    assert "<html" not in fragment.content.decode()
    assert_strict(fragment)
    missing = client.get(reverse("kb:detail", args=[uuid.uuid4()]))
    assert missing.status_code == 404
    assert_strict(missing)


def test_api_responses_and_downloads_carry_the_headers(client_for, owner, kb):
    client = client_for(owner)
    assert_strict(client.get("/api/v1/knowledge-bases/"))
    assert_strict(client.get("/api/v1/no-such-route"))
    assert_strict(client.get(reverse("health")))
    export = client.get(reverse("kb:export", args=[kb.pk]))
    assert export["Content-Type"] == "application/zip"
    assert_strict(export)


def test_swagger_ui_is_strict_and_only_redoc_widens_styles(client_for, owner):
    client = client_for(owner)
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert_strict(docs)
    html = docs.content.decode()
    assert "<style" not in html and re.search(r"<script(?![^>]*\bsrc=)", html) is None
    script = client.get("/api/v1/docs/?script=")  # the split view's set-up script, from this origin
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    redoc = client.get("/api/v1/redoc/")
    directives = _directives(redoc)
    assert directives["script-src"] == ["'self'"] and directives["object-src"] == ["'none'"]
    assert directives["style-src"] == ["'self'", "'unsafe-inline'"]
    assert directives["worker-src"] == ["'self'", "blob:"]
    assert "fonts.googleapis.com" not in redoc.content.decode()  # nothing is loaded from a third party


# What the policy refuses, in template source: an inline <script> (one without src), a <style> element, a style
# attribute, an on* event-handler attribute, javascript: URLs, and htmx features that evaluate code.
FORBIDDEN = {
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
    "style element": re.compile(r"<style\b", re.I),
    "style attribute": re.compile(r"\sstyle\s*=", re.I),
    "event handler": re.compile(r"\son[a-z]+\s*=", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
    "hx-on": re.compile(r"\shx-on", re.I),
    "hx-vars": re.compile(r"\shx-vars", re.I),
    "js: in hx-vals": re.compile(r"hx-vals\s*=\s*['\"]\s*js:", re.I),
    "hx-trigger filter": re.compile(r"hx-trigger\s*=\s*['\"][^'\"]*\[", re.I),  # htmx evals [filters]
}


COMMENTS = re.compile(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}|{#.*?#}", re.S)


def _rendered_source(path: Path) -> str:
    """The template without its comments (they never reach the browser)."""
    return COMMENTS.sub("", path.read_text())


def _project_templates() -> list[Path]:
    dirs = [
        ROOT / "templates",
        *(ROOT / app / "templates" for app in ("privexbot", "tenants", "kb", "drafts", "pages")),
    ]
    return sorted(p for d in dirs if d.is_dir() for p in d.rglob("*.html"))


def test_no_template_holds_what_the_policy_refuses():
    templates = _project_templates()
    assert len(templates) > 30  # the scan looked where the templates are
    found = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in templates
        for name, pattern in FORBIDDEN.items()
        if pattern.search(_rendered_source(path))
    ]
    assert not found, found


@pytest.mark.parametrize(
    "text",
    [
        '<p style="x">',
        "<script>alert(1)</script>",
        '<a onclick="x">',
        '<b hx-on:click="x">',
        'hx-trigger="keyup[ctrlKey]"',
    ],
)
def test_the_template_scan_catches_each_kind(text):
    assert any(pattern.search(text) for pattern in FORBIDDEN.values())


def test_htmx_is_configured_for_the_policy():
    base = (ROOT / "templates" / "base.html").read_text()
    config = re.search(r'<meta name="htmx-config" content=\'([^\']+)\'>', base).group(1)
    import json

    config = json.loads(config)
    assert config["includeIndicatorStyles"] is False  # htmx would inject a <style>
    assert config["allowEval"] is False and config["allowScriptTags"] is False
    css = (ROOT / "static" / "css" / "app.css").read_text()
    assert ".htmx-request .htmx-indicator" in css  # the indicator style it no longer injects


def test_permissions_policy_names_only_known_features():
    from django_permissions_policy import PermissionsPolicyMiddleware

    header = PermissionsPolicyMiddleware.compute_header_value(settings.PERMISSIONS_POLICY, name="PERMISSIONS_POLICY")
    assert header.startswith("accelerometer=()")
