"""The embedding cache is per organization: tenant B indexing text tenant A indexed earlier learns nothing —
no cache hit in any field the API shows, and a real embedding (the same work, so the same time, as any first
indexing) — while A's own reindex still hits A's cache."""

import pytest
from rest_framework.test import APIClient

from kb.models import EmbeddingCache, KnowledgeBase
from kb.pipeline import runner
from kb.services import document_create_from_text, document_reprocess
from tenants.models import Membership, Organization, Role, Workspace
from tests.conftest import make_user

TEXT = (
    "Our warehouse in Tilburg ships pallets on Tuesdays and Fridays only. "
    "Customs paperwork for Norway needs the EORI number on every page.\n\n"
) * 10


@pytest.fixture
def tenant_b(db):
    user = make_user("tenant-b")
    org = Organization.objects.create(name="Globex")
    workspace = Workspace.objects.create(organization=org, name="Globex main")
    Membership.objects.create(user=user, workspace=workspace, role=Role.OWNER)
    return user, KnowledgeBase.objects.create(workspace=workspace, name="Globex KB", created_by=user)


def api_for(user):
    from tenants.tokens import api_token_create

    _, token = api_token_create(user=user, name="tests", scopes=["read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def document_stats(user, document) -> dict:
    url = f"/api/v1/knowledge-bases/{document.kb_id}/documents/{document.pk}/"
    response = api_for(user).get(url)
    assert response.status_code == 200
    return response.json()["stats"]


def test_tenant_b_gets_no_hit_from_tenant_as_cache_and_a_keeps_its_own(kb, owner, tenant_b, no_enqueue):
    a_doc = document_create_from_text(kb=kb, user=owner, title="Shipping", content=TEXT)
    runner.process(a_doc.pk)
    a_stats = document_stats(owner, a_doc)
    assert a_stats["embedded"] == a_stats["unique_texts"] > 0 and a_stats["embedding_cache_hits"] == 0

    b_user, b_kb = tenant_b
    b_doc = document_create_from_text(kb=b_kb, user=b_user, title="Shipping", content=TEXT)
    runner.process(b_doc.pk)
    b_stats = document_stats(b_user, b_doc)
    # Every field the API shows is what a first indexing shows: no hit, every text really embedded.
    assert b_stats["embedding_cache_hits"] == 0
    assert b_stats["embedded"] == b_stats["unique_texts"] == a_stats["unique_texts"]
    assert set(b_stats) == set(a_stats)

    # Each organization has its own entries; the same text is cached twice, never shared.
    a_org, b_org = kb.workspace.organization_id, b_kb.workspace.organization_id
    a_hashes = set(EmbeddingCache.objects.filter(organization_id=a_org).values_list("text_hash", flat=True))
    b_hashes = set(EmbeddingCache.objects.filter(organization_id=b_org).values_list("text_hash", flat=True))
    assert a_hashes == b_hashes and len(a_hashes) == a_stats["unique_texts"]

    document_reprocess(document=a_doc, user=owner)
    runner.process(a_doc.pk)
    again = document_stats(owner, a_doc)
    assert again["embedding_cache_hits"] == again["unique_texts"] and again["embedded"] == 0


def test_the_cache_lookup_never_reads_another_organizations_entries(kb, tenant_b):
    import numpy as np

    from kb.pipeline.store import cache_store, cached_vectors, text_hash

    _, b_kb = tenant_b
    vector = np.ones(384, dtype=np.float32)
    cache_store(kb.workspace.organization_id, "m", [(text_hash("only A has this"), vector)])
    assert cached_vectors(b_kb.workspace.organization_id, "m", [text_hash("only A has this")]) == {}
    assert len(cached_vectors(kb.workspace.organization_id, "m", [text_hash("only A has this")])) == 1


def test_query_embeddings_in_redis_are_keyed_by_kb(kb, tenant_b, settings):
    """A query another tenant searched before is not answered from its cache (that would be faster: a timing
    signal), and a KB's deletion can find its keys."""
    from kb.search.query_embedding import cache_key

    _, b_kb = tenant_b
    assert cache_key("m", "same question", str(kb.pk)) != cache_key("m", "same question", str(b_kb.pk))
    assert str(kb.pk) in cache_key("m", "same question", str(kb.pk))
