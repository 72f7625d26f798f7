"""Every endpoint x {anonymous, outsider, viewer, editor, owner}: the status codes of the access rules.
Another tenant's object is a 404, a role that may not do something is a 403, no credentials is a 401."""

import io

import pytest

from drafts.services import draft_source_add_text
from kb.services import document_create_from_text
from tenants.services import api_token_create
from tests.api.conftest import TEXT, error_of

PERSONAS = ("anonymous", "outsider", "viewer", "member", "owner")


def _expect(codes: str) -> dict:
    """'401 404 403 200 200' -> {persona: status} in PERSONAS order."""
    return dict(zip(PERSONAS, map(int, codes.split()), strict=True))


def _upload():
    f = io.BytesIO(b"Plain text notes about shipping times and returns.\n" * 5)
    f.name = "notes.txt"
    return {"file": f, "title": "Notes"}


DRAFT = "/api/v1/kb-drafts/{draft}"
KB = "/api/v1/knowledge-bases/{kb}/"
DOC = KB + "documents/{doc}/"
# (method, url, body, expected statuses)
ENDPOINTS = {
    "draft-create": ("post", "/api/v1/kb-drafts/", "create", "401 404 403 200 200"),
    "draft-get": ("get", DRAFT, None, "401 404 403 200 200"),
    "draft-delete": ("delete", DRAFT, None, "401 404 403 200 200"),
    "draft-upload": ("post", DRAFT + "/sources/upload", "upload", "401 404 403 200 200"),
    "draft-website": ("post", DRAFT + "/sources/website", {"url": "http://127.0.0.1:9/"}, "401 404 403 200 200"),
    "draft-text": ("post", DRAFT + "/sources/text", {"title": "T", "content": TEXT}, "401 404 403 200 200"),
    "draft-sources": ("get", DRAFT + "/sources", None, "401 404 403 200 200"),
    "draft-source-delete": ("delete", DRAFT + "/sources/{source}", None, "401 404 403 200 200"),
    "draft-preview": ("post", DRAFT + "/preview-chunks", {}, "401 404 403 200 200"),
    "draft-validate": ("post", DRAFT + "/validate", None, "401 404 403 200 200"),
    "draft-finalize": ("post", DRAFT + "/finalize", None, "401 404 403 200 200"),
    "draft-config": ("patch", DRAFT + "/config", {"chunking_config": {"chunk_size": 500}}, "401 404 403 200 200"),
    "kb-list": ("get", "/api/v1/knowledge-bases/", None, "401 200 200 200 200"),
    "kb-get": ("get", KB, None, "401 404 200 200 200"),
    "kb-update": ("patch", KB, {"name": "Renamed", "context_settings": {"tone": "brief"}}, "401 404 403 200 200"),
    "kb-delete": ("delete", KB, None, "401 404 403 403 204"),
    "documents": ("get", KB + "documents/", None, "401 404 200 200 200"),
    "document-get": ("get", DOC, None, "401 404 200 200 200"),
    "document-reprocess": ("post", DOC + "reprocess", None, "401 404 403 202 202"),
    "document-delete": ("delete", DOC, None, "401 404 403 204 204"),
    "chunks": ("get", KB + "chunks/", None, "401 404 200 200 200"),
    "search": ("post", KB + "search", {"query": "refund", "mode": "keyword"}, "401 404 200 200 200"),
    "workspaces": ("get", "/api/v1/workspaces/", None, "401 200 200 200 200"),
    "tokens": ("get", "/api/v1/tokens/", None, "401 200 200 200 200"),
    "token-create": ("post", "/api/v1/tokens/", {"name": "ci", "expires_in_days": 30}, "401 201 201 201 201"),
    "token-revoke": ("delete", "/api/v1/tokens/{token}/", None, "401 404 404 404 204"),
    "token-rotate": ("post", "/api/v1/tokens/{token}/rotate", None, "401 404 404 404 201"),
}


@pytest.fixture
def world(workspace, owner, member, viewer, outsider, kb, draft, no_enqueue):
    source = draft_source_add_text(draft=draft, user=owner, title="Refunds", content=TEXT)
    document = document_create_from_text(kb=kb, user=owner, title="Refunds", content=TEXT)
    token, _ = api_token_create(user=owner, name="owner's")
    ids = {"draft": draft.pk, "source": source.pk, "kb": kb.pk, "doc": document.pk, "token": token.pk}
    users = {"anonymous": None, "outsider": outsider, "viewer": viewer, "member": member, "owner": owner}
    return ids, users, workspace


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_access(api, world, endpoint, persona):
    ids, users, workspace = world
    method, url, body, codes = ENDPOINTS[endpoint]
    if body == "create":
        body = {"name": "New", "workspace_id": str(workspace.pk)}
    kwargs = {"format": "multipart"} if body == "upload" else {}
    body = _upload() if body == "upload" else body
    response = getattr(api(users[persona]), method)(url.format(**ids), body, **kwargs)
    expected = _expect(codes)[persona]
    if expected >= 400:
        error = error_of(response, expected)
        if expected == 401:
            assert response["WWW-Authenticate"] == "Bearer"
            assert error["code"] == "not_authenticated"
    else:
        assert response.status_code == expected, response.content
    if endpoint == "kb-list" and persona == "outsider":
        assert response.json()["results"] == []
