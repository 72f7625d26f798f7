"""Export of everything a user owns (pages.user_export): one zip with the profile, the audit events they caused,
their drafts' metadata and an importable archive of each KB they created and can still read — never a secret.
Doors: `manage.py export_user`, the profile page, `GET /api/v1/me/export`."""

import io
import json
import os
import stat
import uuid
import zipfile

import pytest
from allauth.mfa.models import Authenticator
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from drafts.services import draft_create, draft_source_add_text
from kb.models import KnowledgeBase
from kb.pipeline import runner
from kb.portability import kb_import_archive
from kb.services import document_create_from_text, kb_create
from privexbot.metrics.definitions import DATA_EXPORTS, USER_DATA_EXPORTS
from privexbot.models import AuditEvent
from tenants.models import Membership, Role, Workspace
from tenants.tokens import api_token_create
from tests.conftest import make_tenant, make_user

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DP"
TEXT = "The beekeeper notes each hive's weight and the clover bloom in the yellow book every Friday. " * 8


@pytest.fixture(autouse=True)
def fresh_throttles(isolated_throttles):
    """Rate-limit windows of this test only (tests/conftest.py)."""
    return isolated_throttles


@pytest.fixture
def ada(workspace, owner, kb, no_enqueue):
    """An editor with an indexed KB of her own, one in a workspace she left (no longer hers to read), a draft,
    keys (one in the request: its plaintext must appear nowhere) and an authenticator."""
    user = make_user("ada")
    Membership.objects.create(user=user, workspace=workspace, role=Role.EDITOR)
    own = kb_create(workspace=workspace, user=user, name="Hives")
    document = document_create_from_text(kb=own, user=user, title="Weights", content=f"{TEXT} {uuid.uuid4()}")
    runner.process(document.pk)
    left = Workspace.objects.create(organization=workspace.organization, name="Old team")
    gone = KnowledgeBase.objects.create(workspace=left, name="Left behind", created_by=user)
    draft = draft_create(workspace=workspace, user=user, name="Ada's draft")
    draft_source_add_text(draft=draft, user=user, title="Clover", content=f"Clover secret text {uuid.uuid4()} " * 5)
    row, token = api_token_create(user=user, name="ada-bot", scopes=["admin"])
    Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={"secret": SECRET})
    return {"user": user, "kb": own, "gone": gone, "draft": draft, "token": token, "token_row": row}


def _open(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def _check_export(data: bytes, ada, kb) -> dict:
    zf = _open(data)
    user = ada["user"]
    names = set(zf.namelist())
    archive = f"knowledge-bases/{ada['kb'].pk}.pxkb.zip"
    assert names == {"profile.json", "audit.jsonl", "drafts.json", archive}  # not the owner's KB, not the left one
    everything = b"".join(zf.read(n) for n in names if n != archive)
    for secret in (ada["token"], ada["token_row"].token_hash, SECRET, user.password):
        assert secret.encode() not in everything
    assert b"Clover secret text" not in everything  # drafts.json is metadata, not content
    profile = json.loads(zf.read("profile.json"))
    assert profile["format"] == "privexbot-user-export" and profile["account"]["username"] == "ada"
    assert profile["account"]["email"] == "ada@example.com" and profile["account"]["date_joined"]
    assert [(m["workspace"]["name"], m["role"]) for m in profile["memberships"]] == [("Support", "editor")]
    assert [(k["name"], k["prefix"]) for k in profile["api_keys"]] == [("ada-bot", ada["token_row"].prefix)]
    assert "token_hash" not in profile["api_keys"][0]
    assert [m["type"] for m in profile["mfa"]] == ["totp"]
    rows = [json.loads(line) for line in zf.read("audit.jsonl").decode().splitlines()]
    assert rows and all(r["user_id"] == user.pk for r in rows)
    assert {"knowledge_base", "document", "kb_draft", "api_token"} <= {r["event_type"] for r in rows}
    assert rows[-1]["event_type"] == "data_export" and rows[-1]["action"] == "user_export"
    drafts = json.loads(zf.read("drafts.json"))
    assert [(d["name"], [s["name"] for s in d["sources"]]) for d in drafts] == [("Ada's draft", ["Clover"])]
    return {"zip": zf, "archive": archive, "profile": profile}


def test_export_user_command_writes_everything_they_own_and_nothing_secret(ada, kb, workspace, owner, tmp_path):
    path = tmp_path / "ada.zip"
    kb_exports = DATA_EXPORTS.labels(door="command")._value.get()
    exports = USER_DATA_EXPORTS.labels(door="command")._value.get()
    out = io.StringIO()
    call_command("export_user", "ada", str(path), stdout=out)
    assert "1 knowledge base(s), 1 draft(s)" in out.getvalue()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # it holds her documents in plaintext
    checked = _check_export(path.read_bytes(), ada, kb)
    assert USER_DATA_EXPORTS.labels(door="command")._value.get() == exports + 1
    assert DATA_EXPORTS.labels(door="command")._value.get() == kb_exports + 1  # the KB archive, counted as such
    event = AuditEvent.objects.get(event_type="data_export", action="user_export")
    assert event.user_id == ada["user"].pk and event.details["door"] == "command"
    assert event.details["knowledge_bases"] == 1
    # The KB archive inside is a real one: it imports into another organization with the same document.
    other_ws, other_owner = make_tenant("Elsewhere")
    archive = tmp_path / "hives.pxkb.zip"
    archive.write_bytes(checked["zip"].read(checked["archive"]))
    imported = kb_import_archive(workspace=other_ws, user=other_owner, archive_path=archive)
    assert imported.name == "Hives" and imported.documents.get().name == "Weights"
    assert imported.documents.get().status == "ready" and imported.chunks.exists()


def test_profile_page_downloads_the_export(ada, kb, client):
    client.force_login(ada["user"])
    page = client.get(reverse("profile"))
    assert b"Download my data" in page.content
    assert client.get(reverse("profile-export")).status_code == 405  # a POST (CSRF-protected), never a link
    response = client.post(reverse("profile-export"))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"] and response["Cache-Control"] == "no-store"
    _check_export(b"".join(response.streaming_content), ada, kb)
    assert AuditEvent.objects.get(action="user_export").details["door"] == "web"


def test_api_export_needs_an_admin_key_and_exports_only_the_caller(ada, kb, owner):
    api = APIClient()
    _, read_key = api_token_create(user=ada["user"], name="chatbot", scopes=["read"])
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    assert api.get(reverse("api-me-export")).status_code == 403
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {ada['token']}")
    response = api.get(reverse("api-me-export"), {"include_files": "false"})
    assert response.status_code == 200, response.content[:300]
    zf = _open(b"".join(response.streaming_content))
    assert json.loads(zf.read("profile.json"))["account"]["username"] == "ada"
    inner = _open(zf.read(f"knowledge-bases/{ada['kb'].pk}.pxkb.zip"))
    assert not [n for n in inner.namelist() if "/original." in n]  # include_files=false reached the KB archive
    assert APIClient().get(reverse("api-me-export")).status_code in (401, 403)
