"""POST /knowledge-bases/{id}/search with group_by=document (issue 17): distinct documents, each its best chunk."""

from __future__ import annotations

import pytest

from tests.api.conftest import TEXT, error_of

RETURNS = "Returned items must be unused and in their original packaging; a refund follows the inspection. " * 30


@pytest.fixture
def two_document_kb(kb, owner, no_enqueue):  # noqa: F811
    """Two processed text documents, each long enough for several chunks that match "refund"."""
    from kb.pipeline import runner
    from kb.services import document_create_from_text

    for title, content in (("Refunds", TEXT), ("Returns", RETURNS)):
        document = document_create_from_text(kb=kb, user=owner, title=title, content=content)
        assert runner.process(document.pk).status == "ready"
    assert kb.chunks.count() >= 4
    return kb


def test_group_by_document_returns_each_document_once_with_its_other_chunks(api, owner, two_document_kb):
    url = f"/api/v1/knowledge-bases/{two_document_kb.pk}/search"
    client = api(owner)
    flat = client.post(url, {"query": "refund", "mode": "keyword", "top_k": 10}, format="json").json()
    assert flat["group_by"] == "chunk" and len(flat["results"]) > 2
    assert all(r["document_chunks"] == [] for r in flat["results"])
    body = {"query": "refund", "mode": "keyword", "top_k": 10, "group_by": "document", "chunks_per_document": 2}
    grouped = client.post(url, body, format="json")
    assert grouped.status_code == 200, grouped.content
    data = grouped.json()
    assert data["group_by"] == "document"
    names = [r["document_name"] for r in data["results"]]
    assert sorted(names) == ["Refunds", "Returns"]  # each document once, though each has several matching chunks
    first_of = {}
    for r in flat["results"]:
        first_of.setdefault(r["document_id"], r["chunk_id"])
    for r in data["results"]:
        assert r["chunk_id"] == first_of[r["document_id"]]  # its best chunk
        assert len(r["document_chunks"]) == 1 and r["document_chunks"][0]["chunk_id"] != r["chunk_id"]
        assert r["document_chunks"][0]["score"] <= r["score"]


def test_group_by_is_validated_and_kb_comes_from_the_funnel(api, owner, outsider, two_document_kb):
    url = f"/api/v1/knowledge-bases/{two_document_kb.pk}/search"
    bad = error_of(api(owner).post(url, {"query": "refund", "group_by": "page"}, format="json"), 400)
    assert "group_by" in bad["details"]
    error_of(api(owner).post(url, {"query": "refund", "group_by": "document", "chunks_per_document": 0},
                             format="json"), 400)  # fmt: skip
    error_of(api(outsider).post(url, {"query": "refund", "group_by": "document"}, format="json"), 404)


def test_schema_documents_group_by(api):
    schema = api().get("/api/v1/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]
    search = schema["paths"]["/api/v1/knowledge-bases/{kb_id}/search"]["post"]
    request_ref = search["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    request = components[request_ref.rsplit("/", 1)[1]]["properties"]
    group_by = request["group_by"]
    ref = group_by.get("$ref") or next((r["$ref"] for r in group_by.get("allOf", []) if "$ref" in r), None)
    enum = components[ref.rsplit("/", 1)[1]]["enum"] if ref else group_by["enum"]
    assert enum == ["chunk", "document"]
    assert "chunks_per_document" in request
    assert "document_chunks" in components["SearchHit"]["properties"]


def test_page_evidence_through_the_api(api, owner, two_document_kb):
    """A term-like hybrid query carries each result's page rank and score; page_weight 0 turns it off; out of
    range is a 400."""
    url = f"/api/v1/knowledge-bases/{two_document_kb.pk}/search"
    client = api(owner)
    on = client.post(url, {"query": "refund", "mode": "hybrid", "top_k": 5}, format="json").json()["results"]
    assert on and any(r["page_rank"] == 1 for r in on) and all("page_score" in r for r in on)
    off = client.post(url, {"query": "refund", "mode": "hybrid", "top_k": 5, "page_weight": 0}, format="json")
    assert off.status_code == 200 and all(r["page_rank"] is None for r in off.json()["results"])
    bad = error_of(client.post(url, {"query": "refund", "page_weight": 2}, format="json"), 400)
    assert "page_weight" in bad["details"]
