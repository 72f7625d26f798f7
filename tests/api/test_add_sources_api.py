"""Adding sources to an existing KB through the API: `POST /api/v1/kb-drafts/` with `kb_id`, then the same source,
preview, validate and finalize routes as for a new KB; the KB's settings are locked in the draft.

The last test is the issue's done-when over real HTTP: a live server, a real worker, a PDF from the corpus added
to a KB made over HTTP, found by search; the flow's routes called with and without the trailing slash."""

from __future__ import annotations

import time
import uuid

import pytest
from django.urls import reverse
from prometheus_client import REGISTRY

from drafts.models import DraftPurpose, KBDraft
from kb.models import Document, KnowledgeBase
from kb.pipeline import runner
from privexbot.models import AuditEvent
from tenants.models import Membership, Role, Workspace
from tests.api.conftest import TEXT, error_of
from tests.api.test_e2e_http import Http, ok, poll

LOCKED = {
    "strategy": "recursive", "chunk_size": 700, "chunk_overlap": 50, "separators": ["\n\n", "\n", ". ", " "],
    "size_unit": "characters",
}  # fmt: skip
NOTE = (
    "Lantern inventory.\n\nThe harbour office keeps forty-two storm lanterns in the cedar cupboard behind the tide "
    "tables; each lantern is refilled with paraffin on the first Monday of the month.\n"
)


@pytest.fixture
def tuned_kb(kb):
    """A KB whose chunking differs from the defaults, so a draft that copies it can be told apart."""
    KnowledgeBase.objects.filter(pk=kb.pk).update(chunking_config=LOCKED)
    kb.refresh_from_db()
    return kb


def _drafts_created(purpose: str) -> float:
    return REGISTRY.get_sample_value("privexbot_drafts_created_total", {"purpose": purpose}) or 0.0


@pytest.mark.django_db
def test_a_draft_with_kb_id_targets_the_kb_with_its_settings_locked(
    api, member, tuned_kb, django_capture_on_commit_callbacks
):
    client = api(member)
    before = _drafts_created("add_sources")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/kb-drafts/", {"kb_id": str(tuned_kb.pk)}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["purpose"], body["kb_id"]) == ("created", "add_sources", str(tuned_kb.pk))
    assert _drafts_created("add_sources") == before + 1

    draft = KBDraft.objects.get(pk=body["draft_id"])
    assert (draft.purpose, draft.target_kb_id, draft.workspace_id) == (
        DraftPurpose.ADD_SOURCES, tuned_kb.pk, tuned_kb.workspace_id,
    )  # fmt: skip
    assert draft.name == f"More sources for {tuned_kb.name}"
    assert draft.chunking_config == LOCKED
    assert (draft.embedding_config, draft.vector_store_config) == (
        tuned_kb.embedding_config, tuned_kb.vector_store_config,
    )  # fmt: skip

    detail = client.get(f"/api/v1/kb-drafts/{draft.pk}").json()
    assert (detail["purpose"], detail["kb_id"]) == ("add_sources", str(tuned_kb.pk))
    assert detail["data"]["chunking_config"] == LOCKED and detail["data"]["target_kb_id"] == str(tuned_kb.pk)

    # the KB's settings cannot change in this draft; the same values can be sent back
    for change in (
        {"chunking_config": {**LOCKED, "chunk_size": 300}},
        {"embedding_config": {"batch_size": 8}},
        {"vector_store_config": {"distance_metric": "euclidean"}},
    ):
        error = error_of(client.patch(f"/api/v1/kb-drafts/{draft.pk}/config", change, format="json"), 400)
        assert set(error["details"]) == set(change), error
    assert client.patch(f"/api/v1/kb-drafts/{draft.pk}/config", {"chunking_config": LOCKED}).status_code == 200
    draft.refresh_from_db()
    assert draft.chunking_config == LOCKED

    named = client.post("/api/v1/kb-drafts/", {"kb_id": str(tuned_kb.pk), "name": "June manuals"}, format="json")
    assert KBDraft.objects.get(pk=named.json()["draft_id"]).name == "June manuals"


@pytest.mark.django_db
def test_a_new_kb_draft_still_needs_name_and_workspace(api, owner, workspace):
    client = api(owner)
    error = error_of(client.post("/api/v1/kb-drafts/", {}, format="json"), 400)
    assert set(error["details"]) == {"name", "workspace_id"}
    created = client.post("/api/v1/kb-drafts/", {"name": "New", "workspace_id": str(workspace.pk)}, format="json")
    assert (created.json()["purpose"], created.json()["kb_id"]) == ("create", None)
    assert KBDraft.objects.get(pk=created.json()["draft_id"]).purpose == DraftPurpose.CREATE


@pytest.mark.django_db
def test_kb_id_needs_update_rights_through_the_access_funnel(api, owner, member, viewer, outsider, kb, org):
    body = {"kb_id": str(kb.pk)}
    assert error_of(api(outsider).post("/api/v1/kb-drafts/", body, format="json"), 404)  # another tenant's KB
    assert error_of(api(viewer).post("/api/v1/kb-drafts/", body, format="json"), 403)  # readable, not updatable
    missing = {"kb_id": str(uuid.uuid4())}
    assert error_of(api(owner).post("/api/v1/kb-drafts/", missing, format="json"), 404)
    assert api(member).post("/api/v1/kb-drafts/", body, format="json").status_code == 200
    assert not KBDraft.objects.filter(created_by__in=[outsider, viewer]).exists()

    # a workspace_id given with kb_id must be the KB's
    second = Workspace.objects.create(organization=org, name="Sales")
    Membership.objects.create(user=owner, workspace=second, role=Role.OWNER)
    error = error_of(
        api(owner).post("/api/v1/kb-drafts/", {**body, "workspace_id": str(second.pk)}, format="json"), 400
    )
    assert "kb_id" in error["details"]
    same = api(owner).post("/api/v1/kb-drafts/", {**body, "workspace_id": str(kb.workspace_id)}, format="json")
    assert same.status_code == 200


@pytest.mark.django_db
def test_a_kb_limited_key_may_add_to_its_kbs_only(api, owner, workspace, kb):
    other = KnowledgeBase.objects.create(workspace=workspace, name="Other", created_by=owner)
    limited = api(owner, kb_ids=[kb.pk])
    created = limited.post("/api/v1/kb-drafts/", {"kb_id": str(kb.pk)}, format="json")
    assert created.status_code == 200, created.content
    base = f"/api/v1/kb-drafts/{created.json()['draft_id']}"
    assert limited.get(base).status_code == 200  # its draft is visible to it
    assert limited.post(f"{base}/sources/text", {"title": "Notes", "content": TEXT}).status_code == 200
    assert error_of(limited.post("/api/v1/kb-drafts/", {"kb_id": str(other.pk)}, format="json"), 404)
    error = error_of(limited.post("/api/v1/kb-drafts/", {"name": "N", "workspace_id": str(workspace.pk)}), 403)
    assert "limited" in error["message"]


@pytest.mark.django_db
def test_the_creation_is_audited_naming_the_kb(api, owner, kb):
    draft_id = api(owner).post("/api/v1/kb-drafts/", {"kb_id": str(kb.pk)}, format="json").json()["draft_id"]
    event = AuditEvent.objects.get(event_type="kb_draft", action="create", resource_id=draft_id)
    assert event.details == {"purpose": "add_sources", "target_kb_id": str(kb.pk), "target_kb_name": kb.name}
    assert (event.workspace_id, event.user_id) == (kb.workspace_id, owner.pk)


@pytest.mark.django_db
def test_the_wizard_creates_an_add_sources_draft(client_for, member, kb):
    client_for(member).post(reverse("kb:add_sources", args=[kb.pk]))
    draft = KBDraft.objects.get(target_kb=kb)
    assert draft.purpose == DraftPurpose.ADD_SOURCES
    event = AuditEvent.objects.get(event_type="kb_draft", action="create", resource_id=str(draft.pk))
    assert event.details["target_kb_id"] == str(kb.pk)


@pytest.mark.django_db
def test_finalize_adds_to_the_existing_kb(api, owner, ready_kb, no_enqueue, django_capture_on_commit_callbacks):
    client = api(owner)
    kbs_before = KnowledgeBase.objects.count()
    draft_id = client.post("/api/v1/kb-drafts/", {"kb_id": str(ready_kb.pk)}, format="json").json()["draft_id"]
    base = f"/api/v1/kb-drafts/{draft_id}"
    assert client.post(f"{base}/sources/text", {"title": "Lanterns", "content": NOTE}).status_code == 200
    preview = client.post(f"{base}/preview-chunks", {}).json()
    assert any("cedar cupboard" in c["content"] for c in preview["chunks"])
    assert client.post(f"{base}/validate").json()["valid"] is True
    with django_capture_on_commit_callbacks(execute=True):
        finalized = client.post(f"{base}/finalize")
    assert finalized.status_code == 200, finalized.content
    body = finalized.json()
    assert (body["kb_id"], body["purpose"]) == (str(ready_kb.pk), "add_sources")
    assert body["message"].startswith("Sources added to the knowledge base.")
    assert KnowledgeBase.objects.count() == kbs_before and not KBDraft.objects.filter(pk=draft_id).exists()

    added = Document.objects.get(kb=ready_kb, name="Lanterns")
    assert runner.process(added.pk).status == "ready"
    search = client.post(
        f"/api/v1/knowledge-bases/{ready_kb.pk}/search", {"query": "storm lanterns cedar cupboard", "top_k": 3}
    ).json()
    assert search["results"][0]["document_id"] == str(added.pk)
    assert ready_kb.documents.count() == 2


@pytest.mark.django_db
def test_the_schema_documents_kb_id_and_purpose(api):
    schema = api().get("/api/v1/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/kb-drafts/"]["post"]
    assert "kb_id" in operation["description"]
    components = schema["components"]["schemas"]
    assert "kb_id" in components["CreateKBDraftRequestRequest"]["properties"]
    assert "kb_id" not in components["CreateKBDraftRequestRequest"].get("required", [])
    for name in ("KBDraftResponse", "KBDraftDetails", "FinalizeResponse"):
        assert "purpose" in components[name]["properties"], name
    assert "kb_id" in components["KBDraftDetails"]["properties"]


# ---------------------------------------------------------------- over real HTTP, with a real worker
SOURCES_TIMEOUT = 180
DOCUMENTS_TIMEOUT = 300
PDF = ("exam-n.pdf", "addressed to the exams convener", "a document addressed to the exams convener")


def _ready(http, documents_url, count):
    def problems(page):
        bad = [
            (d["name"], d["status"], d["error"]) for d in page["results"] if d["status"] in ("failed", "quarantined")
        ]
        return f"documents did not get ready: {bad}" if bad else None

    return poll(
        lambda: ok(http.get(documents_url, page_size=50)),
        done=lambda page: page["count"] == count and all(d["status"] == "ready" for d in page["results"]),
        failed=problems, timeout=DOCUMENTS_TIMEOUT, what=f"{count} ready documents",
    )["results"]  # fmt: skip


@pytest.mark.slow
def test_add_a_pdf_to_an_existing_kb_over_http(live_server, worker_process, owner, corpus):
    from tenants.tokens import api_token_create

    worker_process()
    _, token = api_token_create(user=owner, name=f"add-sources-{uuid.uuid4().hex[:8]}", scopes=["write"])
    http = Http(live_server.url, token)
    started = time.monotonic()
    workspace_id = ok(http.get("/api/v1/workspaces"))[0]["id"]  # routes below alternate the two forms

    # -- a KB with one document and its own chunking, made over HTTP
    first = ok(http.post("/api/v1/kb-drafts/", {"name": "Harbour office", "workspace_id": workspace_id}))
    base = f"/api/v1/kb-drafts/{first['draft_id']}"
    ok(http.post(f"{base}/sources/text/", {"title": "Lanterns", "content": NOTE}))
    ok(http.call("PATCH", f"{base}/config/", {"chunking_config": LOCKED}))
    kb_id = ok(http.post(f"{base}/finalize"))["kb_id"]
    kb_url = f"/api/v1/knowledge-bases/{kb_id}"
    _ready(http, f"{kb_url}/documents/", 1)
    kb_before = ok(http.get(kb_url))
    assert kb_before["chunking_config"] == LOCKED

    # -- a draft of that KB: its settings, locked
    created = ok(http.post("/api/v1/kb-drafts", {"kb_id": kb_id}))
    assert (created["purpose"], created["kb_id"]) == ("add_sources", kb_id)
    base = f"/api/v1/kb-drafts/{created['draft_id']}"
    detail = ok(http.get(f"{base}/"))
    assert (detail["purpose"], detail["kb_id"]) == ("add_sources", kb_id)
    assert detail["data"]["chunking_config"] == LOCKED
    refused = http.call("PATCH", f"{base}/config", {"chunking_config": {**LOCKED, "chunk_size": 300}})
    assert refused[0] == 400 and "chunking_config" in refused[1]["error"]["details"], refused

    # -- upload a real PDF; the worker parses it
    name, needle, query = PDF
    pdf = ok(
        http.upload(f"{base}/sources/upload/", filename=name, content=(corpus / "pdf" / name).read_bytes(),
                    mime="application/pdf", fields={"title": "Exam class"})
    )  # fmt: skip
    assert (pdf["type"], pdf["status"]) == ("file_upload", "pending"), pdf

    def source_errors(sources):
        broken = [(s["name"], s["error_code"], s["error"]) for s in sources if s["status"] == "error"]
        return f"sources ended in error: {broken}" if broken else None

    poll(
        lambda: ok(http.get(f"{base}/sources/")),
        done=lambda sources: [s["status"] for s in sources] == ["completed"],
        failed=source_errors, timeout=SOURCES_TIMEOUT, what="the PDF to be parsed",
    )  # fmt: skip

    # -- preview (the KB's chunking), validate, finalize into the KB
    preview = ok(http.post(f"{base}/preview-chunks/", {"limit": 1000}))
    assert preview["total_chunks"] == len(preview["chunks"]) > 0
    assert any(needle in c["content"] for c in preview["chunks"]), needle
    validation = ok(http.post(f"{base}/validate/"))
    assert validation["valid"] is True and validation["stats"]["completed_sources"] == 1, validation
    finalized = ok(http.post(f"{base}/finalize/"))
    assert (finalized["kb_id"], finalized["purpose"], finalized["status"]) == (kb_id, "add_sources", "processing")
    assert http.get(base)[0] == 404  # the draft is gone

    # -- the worker processes the PDF: the KB now has both documents, its settings unchanged
    documents = _ready(http, f"{kb_url}/documents", 2)
    pdf_document = next(d for d in documents if d["name"] == "Exam class")
    assert pdf_document["chunk_count"] > 0
    kb_after = ok(http.get(f"{kb_url}/"))
    assert kb_after["chunking_config"] == LOCKED and kb_after["embedding_config"] == kb_before["embedding_config"]
    assert kb_after["summary"]["documents"] == 2 and kb_after["summary"]["status"] == "ready"
    assert [k["id"] for k in ok(http.get("/api/v1/knowledge-bases/"))["results"]] == [kb_id]

    # -- search finds the PDF's chunk, at both forms of the route
    for url in (f"{kb_url}/search", f"{kb_url}/search/"):
        for mode in ("hybrid", "keyword", "vector"):
            results = ok(http.post(url, {"query": query, "mode": mode, "top_k": 5}))["results"]
            hits = [r for r in results if r["document_id"] == pdf_document["id"] and needle in r["content"]]
            assert hits, (url, mode, [(r["document_name"], r["content"][:80]) for r in results])
    lanterns = ok(http.post(f"{kb_url}/search", {"query": "storm lanterns in the cedar cupboard", "top_k": 3}))
    assert lanterns["results"][0]["document_name"] == "Lanterns"
    print(f"\nadd a PDF to a KB over HTTP: {time.monotonic() - started:.1f}s")
