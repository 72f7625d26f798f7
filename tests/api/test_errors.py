"""Bad input gets the one error shape with the right status, names the field, and leaves nothing behind."""

import io
import json

import pytest
from rest_framework.test import APIClient

from drafts.models import DraftSource, KBDraft
from kb.models import KnowledgeBase
from privexbot.models import AuditEvent
from privexbot.redis import get_client
from tests.api.conftest import TEXT, error_of

pytestmark = pytest.mark.django_db


SITE = "http://127.0.0.1/"


def _file(data: bytes, name: str):
    f = io.BytesIO(data)
    f.name = name
    return f


@pytest.fixture
def client(api, owner):
    return api(owner)


@pytest.fixture
def base(draft):
    return f"/api/v1/kb-drafts/{draft.pk}"


def test_malformed_json_is_a_400(client, base):
    response = client.generic("POST", f"{base}/sources/text", "{not json", content_type="application/json")
    assert error_of(response, 400)["code"] == "parse_error"
    assert not DraftSource.objects.exists()


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("", {"name": "x", "workspace_id": "not-a-uuid"}, "workspace_id"),
        ("", {"workspace_id": "00000000-0000-0000-0000-000000000000"}, "name"),
        ("", {"name": "x" * 256, "workspace_id": "00000000-0000-0000-0000-000000000000"}, "name"),
        ("/sources/text", {"title": "T", "content": "short"}, "content"),
        ("/sources/text", {"title": "T", "content": TEXT, "metadata": "not an object"}, "metadata"),
        ("/sources/text", {"title": "T", "content": TEXT, "metadata": {"k": "v" * 20000}}, "metadata"),
        ("/sources/text", {"title": ["T"], "content": TEXT}, "title"),
        ("/sources/website", {"url": "ftp://example.com/"}, "url"),
        ("/sources/website", {"url": "not a url at all"}, "url"),
        ("/sources/website", {"url": SITE, "crawl_config": {"max_depth": "deep"}}, "crawl_config.max_depth"),
        ("/sources/website", {"url": SITE, "crawl_config": {"max_pages": 1001}}, "crawl_config.max_pages"),
        ("/sources/website", {"url": SITE, "crawl_config": {"concurrency": 500}}, "crawl_config.concurrency"),
        ("/sources/website", {"url": SITE, "crawl_config": {"include_patterns": ["(unclosed"]}},
         "crawl_config.include_patterns"),
        ("/sources/website", {"url": SITE, "crawl_config": {"exclude_patterns": "x"}},
         "crawl_config.exclude_patterns"),
        ("/preview-chunks", {"limit": -1}, "limit"),
        ("/preview-chunks", {"source_id": "nope"}, "source_id"),
        ("/finalize", {}, "draft"),
    ],
)  # fmt: skip
def test_validation_errors_name_the_field(client, base, workspace, path, body, field):
    url = base + path if path else "/api/v1/kb-drafts/"
    error = error_of(client.post(url, body), 400)
    assert error["code"] == "validation_error"
    assert field in error["details"], error
    assert error["message"].startswith(field)
    assert not DraftSource.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"chunking_config": {"chunk_size": 50}}, "chunking_config.chunk_size"),
        ({"chunking_config": {"strategy": "sentences"}}, "chunking_config.strategy"),
        ({"chunking_config": "big"}, "chunking_config"),
        ({"embedding_config": {"model": "no-such-model"}}, "embedding_config.model"),
        ({"vector_store_config": {"distance_metric": "manhattan"}}, "vector_store_config.distance_metric"),
    ],
)
def test_config_errors_name_the_nested_field(client, base, draft, change, field):
    error = error_of(client.patch(f"{base}/config", change, format="json"), 400)
    assert field in error["details"]
    draft.refresh_from_db()
    assert draft.chunking_config["chunk_size"] == 1000  # unchanged


def test_upload_errors(client, base, corpus, settings):
    no_file = error_of(client.post(f"{base}/sources/upload", {"title": "x"}, format="multipart"), 400)
    assert "file" in no_file["details"]
    bad_meta = client.post(
        f"{base}/sources/upload",
        {"file": _file(b"hello world " * 10, "a.txt"), "metadata": "{oops"},
        format="multipart",
    )
    assert "metadata" in error_of(bad_meta, 400)["details"]
    not_object = client.post(
        f"{base}/sources/upload", {"file": _file(b"hello world " * 10, "a.txt"), "metadata": "[1]"}, format="multipart"
    )
    assert "metadata" in error_of(not_object, 400)["details"]
    spoofed = client.post(f"{base}/sources/upload", {"file": _file(b"PK\x03\x04 not a pdf" * 20, "invoice.pdf")},
                          format="multipart")  # fmt: skip
    assert error_of(spoofed, 415)["code"] == "type_mismatch"
    xls = sorted((corpus / "xlsx").glob("*.xls"))[0]
    disallowed = client.post(f"{base}/sources/upload", {"file": _file(xls.read_bytes(), xls.name)}, format="multipart")
    assert error_of(disallowed, 415)["code"] == "unsupported_type"
    exe = client.post(f"{base}/sources/upload", {"file": _file(b"MZ\x90\x00" * 50, "tool.exe")}, format="multipart")
    assert error_of(exe, 415)["code"] == "unsupported_type"
    empty = client.post(f"{base}/sources/upload", {"file": _file(b"", "empty.txt")}, format="multipart")
    assert error_of(empty, 400)["code"] == "empty"
    as_json = client.post(f"{base}/sources/upload", {"file": "x"}, format="json")
    assert error_of(as_json, 415)["code"] == "unsupported_media_type"
    settings.MAX_FILE_SIZE = 1000
    pdf = (corpus / "pdf" / "exam-n.pdf").read_bytes()
    too_big = client.post(f"{base}/sources/upload", {"file": _file(pdf, "exam-n.pdf")}, format="multipart")
    assert error_of(too_big, 413)["code"] == "too_large"
    assert not DraftSource.objects.exists()


def test_an_upload_far_over_the_limit_is_refused_before_it_is_read(client, base, settings):
    settings.MAX_FILE_SIZE = 10
    huge = _file(b"x" * (1024 * 1024 + 100), "big.txt")
    error = error_of(client.post(f"{base}/sources/upload", {"file": huge}, format="multipart"), 413)
    assert error["code"] == "too_large" and "file" in error["details"]


def test_a_json_body_over_the_limit_is_a_413(client, base, settings):
    settings.API_MAX_JSON_BODY = 1000
    error = error_of(client.post(f"{base}/sources/text", {"title": "T", "content": "x" * 2000}), 413)
    assert error["code"] == "too_large"


def test_unknown_and_foreign_ids_are_404(client, api, outsider, base, kb, draft):
    missing = "00000000-0000-0000-0000-000000000000"
    assert error_of(client.get(f"/api/v1/kb-drafts/{missing}"), 404)["code"] == "not_found"
    assert error_of(client.delete(f"{base}/sources/{missing}"), 404)["code"] == "not_found"
    assert error_of(client.post(f"{base}/preview-chunks", {"source_id": missing}), 404)["code"] == "not_found"
    assert error_of(client.get(f"/api/v1/knowledge-bases/{kb.pk}/documents/{missing}/"), 404)
    assert error_of(client.get("/api/v1/knowledge-bases/not-a-uuid/"), 404)["code"] == "not_found"
    assert error_of(client.get("/api/v1/no-such-route"), 404)["code"] == "not_found"
    foreign = api(outsider)
    assert error_of(foreign.post(f"{base}/sources/text", {"title": "T", "content": TEXT}), 404)
    assert error_of(foreign.patch(f"/api/v1/knowledge-bases/{kb.pk}/", {"name": "pwned"}), 404)
    kb.refresh_from_db()
    assert kb.name == "Product docs" and not DraftSource.objects.exists()


def test_other_query_and_body_errors(client, ready_kb):
    url = f"/api/v1/knowledge-bases/{ready_kb.pk}/"
    huge = error_of(client.post(url + "search", {"query": "refund " * 1000}), 400)
    assert "query" in huge["details"]
    assert "mode" in error_of(client.post(url + "search", {"query": "x", "mode": "fuzzy"}), 400)["details"]
    assert "top_k" in error_of(client.post(url + "search", {"query": "x", "top_k": 0}), 400)["details"]
    unknown = error_of(client.post(url + "search", {"query": "x", "filters": {"colour": "red"}}), 400)
    assert "filters" in unknown["details"]
    bad_ids = error_of(client.post(url + "search", {"query": "x", "filters": {"document_ids": ["nope"]}}), 400)
    assert "filters" in bad_ids["details"]
    assert "document_id" in error_of(client.get(url + "chunks/", {"document_id": "nope"}), 400)["details"]
    assert "status" in error_of(client.get(url + "documents/", {"status": "sleeping"}), 400)["details"]
    assert "name" in error_of(client.patch(url, {"name": ""}), 400)["details"]
    assert error_of(client.get(url + "chunks/", {"page": 99}), 404)["code"] == "not_found"
    assert error_of(client.put(url, {"name": "x"}), 405)["code"] == "method_not_allowed"


def test_rotating_a_revoked_token_is_a_conflict(api, owner):
    client = api(owner)
    created = client.post("/api/v1/tokens/", {"name": "old"}).json()
    assert client.delete(f"/api/v1/tokens/{created['id']}/").status_code == 204
    assert client.delete(f"/api/v1/tokens/{created['id']}/").status_code == 204  # idempotent
    assert error_of(client.post(f"/api/v1/tokens/{created['id']}/rotate"), 409)["code"] == "conflict"


def test_session_writes_need_the_csrf_token(owner, workspace):
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(owner)
    assert browser.get("/api/v1/workspaces/").status_code == 200
    response = browser.post("/api/v1/kb-drafts/", {"name": "x", "workspace_id": str(workspace.pk)}, format="json")
    assert error_of(response, 403)["code"] == "permission_denied"
    assert not KBDraft.objects.exists()


def test_throttling_is_a_429_with_retry_after(api, owner, settings, fresh_throttles):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "3/min", "ip": "100/min", "heavy": "100/min"},
    }
    client = api(owner)
    assert [client.get("/api/v1/workspaces/").status_code for _ in range(3)] == [200, 200, 200]
    response = client.get("/api/v1/workspaces/")
    error = error_of(response, 429)
    assert error["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 60 and error["details"]["retry_after"] == int(response["Retry-After"])
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "100/min", "ip": "2/min", "heavy": "100/min"},
    }
    for key in get_client().scan_iter(match=f"{fresh_throttles}:*"):
        get_client().delete(key)
    anonymous = api()
    assert [anonymous.get("/api/v1/workspaces/").status_code for _ in range(2)] == [401, 401]
    assert error_of(anonymous.get("/api/v1/workspaces/"), 429)  # per address, even without credentials
    bad_token = api()
    bad_token.credentials(HTTP_AUTHORIZATION="Bearer pxb_guess")
    assert error_of(bad_token.get("/api/v1/workspaces/"), 429)  # guessing tokens counts too


def test_heavy_endpoints_have_their_own_budget(api, owner, ready_kb, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "100/min", "ip": "100/min", "heavy": "2/min"},
    }
    client = api(owner)
    url = f"/api/v1/knowledge-bases/{ready_kb.pk}/search"
    for _ in range(2):
        assert client.post(url, {"query": "refund", "mode": "keyword"}).status_code == 200
    assert error_of(client.post(url, {"query": "refund", "mode": "keyword"}), 429)
    assert client.get(f"/api/v1/knowledge-bases/{ready_kb.pk}/").status_code == 200


def test_refused_writes_are_audited(api, viewer, outsider, kb):
    api(viewer).patch(f"/api/v1/knowledge-bases/{kb.pk}/", {"name": "x"})
    api(outsider).delete(f"/api/v1/knowledge-bases/{kb.pk}/")
    api().post("/api/v1/kb-drafts/", {"name": "x"})
    events = AuditEvent.objects.filter(event_type="api_request", success=False).order_by("timestamp")
    assert [(e.username, e.details["status"], e.action) for e in events] == [
        ("viewer", 403, "PATCH api-kb"),
        ("outsider", 404, "DELETE api-kb"),
        ("", 401, "POST api-draft-create"),
    ]
    assert json.dumps(events[0].details)  # plain JSON
    assert KnowledgeBase.objects.get(pk=kb.pk).name == "Product docs"
