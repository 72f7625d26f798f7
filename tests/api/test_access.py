"""Every endpoint x {anonymous, outsider, viewer, editor, owner}: the status codes of the access rules.
Another tenant's object is a 404, a role that may not do something is a 403, no credentials is a 401."""

import io
from datetime import timedelta

import pytest
from django.utils import timezone

from drafts.services import draft_source_add_text
from kb.services import document_create_from_text
from tenants.models import Invitation
from tenants.tokens import api_token_create
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
WS = "/api/v1/workspaces/{workspace}/"
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
    # workspaces, members, invitations (tenants/api/members.py); deleting yourself is leaving (viewer: 204)
    "workspace-create": (
        "post",
        "/api/v1/workspaces/",
        {"organization_id": "{org}", "name": "New"},
        "401 404 403 403 201",
    ),
    "workspace-get": ("get", WS, None, "401 404 200 200 200"),
    "workspace-rename": ("patch", WS, {"name": "Renamed"}, "401 404 403 403 200"),
    "members": ("get", WS + "members/", None, "401 404 200 200 200"),
    "member-role": ("patch", WS + "members/{viewer_id}/", {"role": "editor"}, "401 404 403 403 200"),
    "member-remove": ("delete", WS + "members/{viewer_id}/", None, "401 404 204 403 204"),
    "transfer-ownership": ("post", WS + "transfer-ownership/", {"user_id": "{member_id}"}, "401 404 403 403 200"),
    "invitations": ("get", WS + "invitations/", None, "401 404 403 403 200"),
    "invite": ("post", WS + "invitations/", {"email": "new@example.com", "role": "viewer"}, "401 404 403 403 201"),
    "invitation-resend": ("post", WS + "invitations/{invitation}/resend", None, "401 404 403 403 200"),
    "invitation-revoke": ("delete", WS + "invitations/{invitation}/", None, "401 404 403 403 204"),
    "invitation-accept": ("post", "/api/v1/invitations/accept/", {"token": "unknown"}, "401 404 404 404 404"),
}


@pytest.fixture
def world(workspace, owner, member, viewer, outsider, kb, draft, no_enqueue):
    source = draft_source_add_text(draft=draft, user=owner, title="Refunds", content=TEXT)
    document = document_create_from_text(kb=kb, user=owner, title="Refunds", content=TEXT)
    token, _ = api_token_create(user=owner, name="owner's")
    ids = {"draft": draft.pk, "source": source.pk, "kb": kb.pk, "doc": document.pk, "token": token.pk}
    invitation = Invitation.objects.create(
        workspace=workspace,
        email="invited@example.com",
        token_hash="0" * 64,
        expires_at=timezone.now() + timedelta(days=1),
    )
    ids |= {"workspace": workspace.pk, "org": workspace.organization_id, "viewer_id": viewer.pk,
            "member_id": member.pk, "invitation": invitation.pk}  # fmt: skip
    users = {"anonymous": None, "outsider": outsider, "viewer": viewer, "member": member, "owner": owner}
    return ids, users, workspace


def _send(client, endpoint: str, ids: dict, workspace):
    method, url, body, _ = ENDPOINTS[endpoint]
    if body == "create":
        body = {"name": "New", "workspace_id": str(workspace.pk)}
    kwargs = {"format": "multipart"} if body == "upload" else {}
    body = _upload() if body == "upload" else body
    if isinstance(body, dict):  # ids in a JSON body ("{org}")
        body = {k: v.format(**ids) if isinstance(v, str) else v for k, v in body.items()}
    return getattr(client, method)(url.format(**ids), body, **kwargs)


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_access(api, world, endpoint, persona):
    ids, users, workspace = world
    codes = ENDPOINTS[endpoint][3]
    response = _send(api(users[persona]), endpoint, ids, workspace)
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


# ---------------------------------------------------------------- API keys as personas
# The owner's keys, so that every refusal below comes from the key, not the role: `search_key` has the search
# scope and is limited to KB A (the `kb` fixture); `kb_key` has the write scope and is limited to KB A. The
# draft of `world` makes a new KB, so it is outside any KB limit.
KEY_PERSONAS = ("search_key", "kb_key")
KEY_OPTIONS = {"search_key": {"scopes": ["search"]}, "kb_key": {"scopes": ["write"]}}
KEY_ENDPOINTS = {
    "draft-create": "403 403",  # a KB-limited key cannot create knowledge bases
    **dict.fromkeys(
        [
            "draft-get",
            "draft-delete",
            "draft-upload",
            "draft-website",
            "draft-text",
            "draft-sources",
            "draft-source-delete",
            "draft-preview",
            "draft-validate",
            "draft-finalize",
            "draft-config",
        ],
        "403 404",
    ),  # fmt: skip
    "kb-list": "403 200",
    "kb-get": "403 200",
    "kb-update": "403 200",
    "kb-delete": "403 204",
    "documents": "403 200",
    "document-get": "403 200",
    "document-reprocess": "403 202",
    "document-delete": "403 204",
    "chunks": "403 200",
    "search": "200 200",
    "workspaces": "403 200",
    "tokens": "403 403",  # keys are managed with the admin scope only
    "token-create": "403 403",
    "token-revoke": "403 403",
    "token-rotate": "403 403",
    "workspace-create": "403 403",  # admin scope
    "workspace-get": "403 200",
    "workspace-rename": "403 403",
    "members": "403 200",
    "member-role": "403 403",
    "member-remove": "403 403",
    "transfer-ownership": "403 403",
    "invitations": "403 403",
    "invite": "403 403",
    "invitation-resend": "403 403",
    "invitation-revoke": "403 403",
    "invitation-accept": "403 404",
}


# The scope a route needs, where it is not the default (read for GET, write otherwise).
NEEDS = {"invitations": "admin", "invitation-accept": "read"}


def _needed(endpoint: str) -> str:
    method, url, _, _ = ENDPOINTS[endpoint]
    if endpoint in NEEDS:
        return NEEDS[endpoint]
    if url.startswith("/api/v1/tokens/"):
        return "admin"
    if method == "get":
        return "read"
    return "admin" if url.startswith((WS, "/api/v1/tokens/")) or endpoint == "workspace-create" else "write"


def test_every_route_has_a_row_for_the_key_personas():
    assert set(KEY_ENDPOINTS) == set(ENDPOINTS)


def _key_client(api, owner, kb, persona):
    return api(owner, kb_ids=[kb.pk], **KEY_OPTIONS[persona])


@pytest.mark.parametrize("persona", KEY_PERSONAS)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_access_with_limited_keys(api, world, owner, kb, endpoint, persona):
    ids, _, workspace = world
    response = _send(_key_client(api, owner, kb, persona), endpoint, ids, workspace)
    expected = dict(zip(KEY_PERSONAS, map(int, KEY_ENDPOINTS[endpoint].split()), strict=True))[persona]
    if expected < 400:
        assert response.status_code == expected, response.content
    else:
        error = error_of(response, expected)
        if persona == "search_key" and expected == 403:
            assert error["message"] == (
                f"This API key has the 'search' scope; this route needs the '{_needed(endpoint)}' scope."
            ), endpoint  # fmt: skip
    if endpoint == "kb-list" and persona == "kb_key":
        assert [row["id"] for row in response.json()["results"]] == [str(kb.pk)]


KB_ROUTES = [e for e, (_, url, _, _) in ENDPOINTS.items() if url.startswith(KB)]


@pytest.fixture
def kb_b(workspace, owner, no_enqueue):
    """Another KB of the same workspace, that the keys are not limited to."""
    from kb.models import KnowledgeBase

    kb = KnowledgeBase.objects.create(workspace=workspace, name="Internal notes", created_by=owner)
    document = document_create_from_text(kb=kb, user=owner, title="Notes", content=TEXT)
    return kb, document


@pytest.mark.parametrize("persona", KEY_PERSONAS)
@pytest.mark.parametrize("endpoint", KB_ROUTES)
def test_a_kb_outside_the_key_is_a_404_like_another_tenants(api, world, owner, kb, kb_b, endpoint, persona):
    ids, _, workspace = world
    other, document = kb_b
    ids = {**ids, "kb": other.pk, "doc": document.pk}
    response = _send(_key_client(api, owner, kb, persona), endpoint, ids, workspace)
    # The search key's scope is checked first (403 on every non-search route); what it may call, search,
    # does not find KB B. The write key finds nothing of KB B at all.
    expected = 403 if persona == "search_key" and endpoint != "search" else 404
    error_of(response, expected)
    assert other.__class__.objects.filter(pk=other.pk).exists() and other.documents.count() == 1
