"""The whole draft flow through the API: upload -> parse -> preview -> config -> validate -> finalize ->
process -> search -> delete. Background work runs in-process (drafts.processing, kb.pipeline.runner)."""

import pytest

from drafts import processing
from kb.models import Chunk, Document, KnowledgeBase
from kb.pipeline import runner
from privexbot.models import AuditEvent
from tests.api.conftest import TEXT

pytestmark = pytest.mark.django_db


def test_draft_to_search_through_the_api(api, workspace, owner, corpus, no_enqueue, django_capture_on_commit_callbacks):
    client = api(owner)
    created = client.post("/api/v1/kb-drafts/", {"name": "Exams", "description": "", "workspace_id": str(workspace.pk)})
    assert created.status_code == 200
    assert created.json()["status"] == "created" and created.json()["message"]
    base = f"/api/v1/kb-drafts/{created.json()['draft_id']}"

    with open(corpus / "pdf" / "exam-n.pdf", "rb") as fh:
        upload = client.post(
            f"{base}/sources/upload", {"file": fh, "title": "Exam class", "metadata": '{"team": "docs"}'},
            format="multipart",
        )  # fmt: skip
    assert upload.status_code == 200, upload.content
    pdf = upload.json()
    assert set(pdf) >= {"id", "type", "name", "status", "metadata", "content_preview", "created_at", "error"}
    assert (pdf["type"], pdf["name"], pdf["status"]) == ("file_upload", "Exam class", "pending")
    assert pdf["metadata"]["team"] == "docs" and pdf["metadata"]["original_filename"] == "exam-n.pdf"
    assert ("parse_draft_source", pdf["id"]) in no_enqueue
    assert processing.parse_source(pdf["id"]) == "completed"

    text = client.post(f"{base}/sources/text", {"title": "Refunds", "content": TEXT, "metadata": {"lang": "en"}})
    assert text.status_code == 200 and text.json()["status"] == "completed"
    assert text.json()["content_preview"] == TEXT[:500]

    sources = client.get(f"{base}/sources").json()
    assert [(s["name"], s["status"]) for s in sources] == [("Exam class", "completed"), ("Refunds", "completed")]
    details = client.get(base).json()
    assert details["type"] == "kb" and details["workspace_id"] == str(workspace.pk)
    assert details["data"]["processing_status"]["sources_processed"] == 2

    preview = client.post(f"{base}/preview-chunks", {}).json()
    assert preview["total_chunks"] == len(preview["chunks"]) > 5
    config = client.patch(f"{base}/config", {"chunking_config": {"chunk_size": 600, "chunk_overlap": 0}})
    assert config.status_code == 200 and config.json() == {"message": "Configuration updated successfully"}
    smaller = client.post(f"{base}/preview-chunks", {"limit": 1000}).json()
    assert smaller["total_chunks"] > preview["total_chunks"]
    only_text = client.post(f"{base}/preview-chunks", {"source_id": text.json()["id"]}).json()
    assert {c["source_id"] for c in only_text["chunks"]} == {text.json()["id"]}
    page = client.post(f"{base}/preview-chunks", {"offset": 2, "limit": 3}).json()
    assert [c["id"] for c in page["chunks"]] == [c["id"] for c in smaller["chunks"][2:5]]

    validation = client.post(f"{base}/validate").json()
    assert validation["valid"] is True and validation["errors"] == []
    assert validation["stats"]["completed_sources"] == 2

    with django_capture_on_commit_callbacks(execute=True):
        finalized = client.post(f"{base}/finalize")
    assert finalized.status_code == 200
    assert finalized.json()["status"] == "processing" and finalized.json()["message"]
    kb_id = finalized.json()["kb_id"]
    assert client.get(base).status_code == 404  # the draft is gone

    kb_url = f"/api/v1/knowledge-bases/{kb_id}/"
    documents = client.get(f"{kb_url}documents/").json()
    assert documents["count"] == 2 and {d["status"] for d in documents["results"]} == {"queued"}
    for document in documents["results"]:
        assert runner.process(document["id"]).status == "ready"
    detail = client.get(kb_url).json()
    assert detail["summary"]["status"] == "ready" and detail["summary"]["documents"] == 2
    assert detail["chunking_config"]["chunk_size"] == 600
    assert sorted(detail["permissions"]) == ["kb:create", "kb:delete", "kb:read", "kb:update", "workspace:manage"]

    by_name = {d["name"]: d["id"] for d in documents["results"]}
    chunks = client.get(f"{kb_url}chunks/", {"document_id": by_name["Refunds"], "page_size": 200}).json()
    assert chunks["count"] == Chunk.objects.filter(document_id=by_name["Refunds"]).count() > 0
    assert {c["document_id"] for c in chunks["results"]} == {by_name["Refunds"]}
    # what the preview showed is what was indexed
    assert [c["content"] for c in chunks["results"]] == [
        c["content"] for c in smaller["chunks"] if c["source_name"] == "Refunds"
    ]

    for mode in ("vector", "keyword", "hybrid"):
        response = client.post(f"{kb_url}search", {"query": "convener", "mode": mode})
        assert response.status_code == 200, response.content
        results = response.json()["results"]
        expected = [r for r in results[:3] if r["document_name"] == "Exam class" and "convener" in r["content"]]
        assert expected, (mode, [r["content"][:80] for r in results[:3]])
        assert expected[0]["page"] is not None and results[0]["rank"] == 1
        refunds = client.post(f"{kb_url}search", {"query": "how many days until a refund is issued", "mode": mode})
        assert refunds.json()["results"][0]["document_id"] == by_name["Refunds"], mode
    hybrid = client.post(f"{kb_url}search", {"query": "refund returned item", "top_k": 3}).json()["results"]
    assert len(hybrid) <= 3 and hybrid[0]["vector_rank"] and hybrid[0]["keyword_rank"]
    filtered = client.post(
        f"{kb_url}search", {"query": "refund", "mode": "keyword", "filters": {"document_ids": [by_name["Exam class"]]}}
    ).json()["results"]
    assert all(r["document_id"] == by_name["Exam class"] for r in filtered)

    reads = set(AuditEvent.objects.filter(event_type="document_access").values_list("action", flat=True))
    assert reads == {"preview_chunks", "list_documents", "list_chunks", "search"}  # a preview shows chunk text

    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(kb_url).status_code == 204
    assert not KnowledgeBase.objects.filter(pk=kb_id).exists()
    assert not Chunk.objects.filter(kb_id=kb_id).exists() and not Document.objects.filter(kb_id=kb_id).exists()
    assert client.get(kb_url).status_code == 404
