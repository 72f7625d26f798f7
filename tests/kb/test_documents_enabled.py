"""Disabled documents (issue 16): kept with their chunks, left out of every search, back at once when enabled —
from the service, the API, the KB page and the admin; another tenant's document is a 404 at every door."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from kb.models import Chunk, Document, KnowledgeBase
from kb.search import chunk_search
from kb.services import document_set_enabled
from privexbot.errors import Conflict
from privexbot.metrics.definitions import DOCUMENTS_ENABLED_CHANGES
from privexbot.models import AuditEvent
from tests.api.conftest import api, fresh_throttles  # noqa: F401  (the API fixtures)
from tests.kb.test_search import MODEL, add_chunks, paragraphs

MODES = ("hybrid", "vector", "keyword")
HTMX = {"HTTP_HX_REQUEST": "true"}


@functools.cache
def embedded(count: int = 40) -> tuple[list[str], np.ndarray]:
    """Real corpus paragraphs with their real embeddings (the local model)."""
    from kb.pipeline import runtime

    texts = list(paragraphs(count))
    return texts, runtime.embedder(MODEL).encode(texts, batch_size=32)


@pytest.fixture
def two_documents(kb):
    texts, vecs = embedded()
    first = add_chunks(kb, texts[:20], vecs[:20], name="first")
    second = add_chunks(kb, texts[20:], vecs[20:], name="second")
    return first, second


def found(kb, query: str, mode: str) -> set:
    return {r.document_id for r in chunk_search(kb=kb, query=query, mode=mode, top_k=10)}


def changes(action: str) -> float:
    return DOCUMENTS_ENABLED_CHANGES.labels(action=action)._value.get()


@pytest.mark.parametrize("mode", MODES)
def test_search_leaves_out_a_disabled_document_and_finds_it_again_after_enable(
    kb, owner, two_documents, mode, no_enqueue, django_capture_on_commit_callbacks
):
    first, second = two_documents
    texts, _ = embedded()
    query = texts[3]  # a paragraph of the first document, word for word
    assert str(first.pk) in found(kb, query, mode)
    chunks_before = list(Chunk.objects.filter(document=first).order_by("pk").values_list("pk", "content_hash"))
    version = Document.objects.get(pk=first.pk).version

    with django_capture_on_commit_callbacks(execute=True):
        document_set_enabled(document=first, enabled=False, user=owner)
    hits = found(kb, query, mode)
    assert str(first.pk) not in hits
    assert str(second.pk) in found(kb, texts[25], mode)  # the other document is still served
    # kept: the same chunks, nothing deleted or queued
    assert list(Chunk.objects.filter(document=first).order_by("pk").values_list("pk", "content_hash")) == chunks_before

    with django_capture_on_commit_callbacks(execute=True):
        document_set_enabled(document=first, enabled=True, user=owner)
    assert str(first.pk) in found(kb, query, mode)
    first.refresh_from_db()
    assert first.status == "ready" and first.version == version and not no_enqueue  # nothing re-processed
    assert list(Chunk.objects.filter(document=first).order_by("pk").values_list("pk", "content_hash")) == chunks_before


def test_disable_is_audited_counted_and_idempotent(kb, owner, two_documents, django_capture_on_commit_callbacks):
    first, _ = two_documents
    disabled, enabled = changes("disable"), changes("enable")
    with django_capture_on_commit_callbacks(execute=True):
        document_set_enabled(document=first, enabled=False, user=owner)
        document_set_enabled(document=first, enabled=False, user=owner)  # already disabled: nothing changes
    events = AuditEvent.objects.filter(event_type="document", action="disable", resource_id=str(first.pk))
    assert events.count() == 1 and events.get().user_id == owner.pk
    assert events.get().details["kb_id"] == str(kb.pk)
    assert changes("disable") == disabled + 1
    with django_capture_on_commit_callbacks(execute=True):
        document_set_enabled(document=first, enabled=True, user=owner)
    assert AuditEvent.objects.filter(action="enable", resource_id=str(first.pk)).count() == 1
    assert changes("enable") == enabled + 1


# --- the API: PATCH {"enabled": ...} on the document -------------------------------------------------------------


def doc_url(kb, document, slash: bool = True) -> str:
    return f"/api/v1/knowledge-bases/{kb.pk}/documents/{document.pk}" + ("/" if slash else "")


@pytest.mark.parametrize("slash", [True, False])
def test_api_disables_and_enables_a_document(api, owner, kb, two_documents, slash):  # noqa: F811
    first, second = two_documents
    client = api(owner)
    response = client.patch(doc_url(kb, first, slash), {"enabled": False}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["enabled"] is False
    texts, _ = embedded()
    hits = client.post(f"/api/v1/knowledge-bases/{kb.pk}/search", {"query": texts[3], "mode": "keyword"}, format="json")
    assert str(first.pk) not in {r["document_id"] for r in hits.json()["results"]}
    listed = client.get(f"/api/v1/knowledge-bases/{kb.pk}/documents/", {"enabled": "false"}).json()
    assert [d["id"] for d in listed["results"]] == [str(first.pk)] and listed["results"][0]["enabled"] is False
    listed = client.get(f"/api/v1/knowledge-bases/{kb.pk}/documents/", {"enabled": "true"}).json()
    assert [d["id"] for d in listed["results"]] == [str(second.pk)]
    response = client.patch(doc_url(kb, first, slash), {"enabled": True}, format="json")
    assert response.json()["enabled"] is True and Document.objects.get(pk=first.pk).enabled


def test_api_refuses_bad_bodies_viewers_and_other_tenants(api, owner, viewer, outsider, kb, two_documents):  # noqa: F811
    first, _ = two_documents
    assert api(owner).patch(doc_url(kb, first), {"enabled": "maybe"}, format="json").status_code == 400
    assert api(owner).patch(doc_url(kb, first), {}, format="json").status_code == 400
    assert api(viewer).patch(doc_url(kb, first), {"enabled": False}, format="json").status_code == 403
    assert api(outsider).patch(doc_url(kb, first), {"enabled": False}, format="json").status_code == 404
    # the outsider's own KB, naming Acme's document: still a 404
    from tests.conftest import make_tenant

    other_ws, other_owner = make_tenant("Initech", username="initech")
    theirs = KnowledgeBase.objects.create(workspace=other_ws, name="Theirs", created_by=other_owner)
    assert api(other_owner).patch(doc_url(theirs, first), {"enabled": False}, format="json").status_code == 404
    assert Document.objects.get(pk=first.pk).enabled


def test_api_document_list_filters_by_name_and_source_and_pages(api, owner, kb):  # noqa: F811
    Document.objects.bulk_create(
        Document(kb=kb, name=f"{'report' if i % 2 else 'page'} {i}", status="ready",
                 source_type="file_upload" if i % 2 else "website_crawl")
        for i in range(30)
    )  # fmt: skip
    client = api(owner)
    url = f"/api/v1/knowledge-bases/{kb.pk}/documents/"
    body = client.get(url, {"name": "REPORT", "page_size": 10}).json()
    assert body["count"] == 15 and len(body["results"]) == 10 and body["next"]
    assert all("report" in d["name"] for d in body["results"])
    body = client.get(url, {"source_type": "website_crawl", "page_size": 100}).json()
    assert body["count"] == 15 and {d["source_type"] for d in body["results"]} == {"website_crawl"}
    assert client.get(url, {"source_type": "nope"}).status_code == 400


# --- the KB page ---------------------------------------------------------------------------------------------------


def test_page_button_disables_and_enables(client_for, owner, kb, two_documents):
    first, _ = two_documents
    client = client_for(owner)
    page = client.get(reverse("kb:detail", args=[kb.pk])).content.decode()
    assert f'aria-label="Disable {first.name}"' in page
    url = reverse("kb:document_enabled", args=[kb.pk, first.pk])
    partial = client.post(url, {"enabled": "false"}, **HTMX).content.decode()
    assert partial.lstrip().startswith('<section class="card" id="documents"')
    assert f'aria-label="Enable {first.name}"' in partial and 'data-enabled="false"' in partial
    assert not Document.objects.get(pk=first.pk).enabled
    response = client.post(url + "?status=ready&page=1", {"enabled": "true"})
    assert response.status_code == 302 and response["Location"].endswith("?status=ready&page=1")
    assert Document.objects.get(pk=first.pk).enabled


def test_page_refuses_viewers_outsiders_and_other_kbs_documents(client_for, viewer, outsider, owner, kb, two_documents):
    first, _ = two_documents
    url = reverse("kb:document_enabled", args=[kb.pk, first.pk])
    page = client_for(viewer).get(reverse("kb:detail", args=[kb.pk])).content.decode()
    assert 'aria-label="Disable' not in page and "bulk-form" not in page
    assert client_for(viewer).post(url, {"enabled": "false"}).status_code == 403
    assert client_for(outsider).post(url, {"enabled": "false"}).status_code == 404
    other = KnowledgeBase.objects.create(workspace=kb.workspace, name="Other", created_by=owner)
    wrong = reverse("kb:document_enabled", args=[other.pk, first.pk])
    assert client_for(owner).post(wrong, {"enabled": "false"}).status_code == 404
    assert Document.objects.get(pk=first.pk).enabled


# --- the admin -----------------------------------------------------------------------------------------------------


def test_admin_filter_and_actions_go_through_the_service(client, kb, two_documents):
    first, second = two_documents
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    changelist = reverse("admin:kb_document_changelist")
    selected = {admin.helpers.ACTION_CHECKBOX_NAME: [str(first.pk), str(second.pk)]}
    client.post(changelist, {"action": "disable", **selected})
    assert not Document.objects.filter(pk__in=[first.pk, second.pk], enabled=True).exists()
    assert AuditEvent.objects.filter(action="disable", user_id=root.pk).count() == 2
    page = client.get(changelist, {"enabled__exact": "0"}).content.decode()
    assert "first" in page and "second" in page
    client.post(changelist, {"action": "enable", admin.helpers.ACTION_CHECKBOX_NAME: [str(first.pk)]})
    assert Document.objects.get(pk=first.pk).enabled and not Document.objects.get(pk=second.pk).enabled
    page = client.get(changelist, {"enabled__exact": "0"}).content.decode()
    assert ">second<" in page and ">first<" not in page


def test_an_old_version_kept_under_legal_hold_is_never_enabled(api, client_for, owner, kb, two_documents):  # noqa: F811
    first, second = two_documents
    Document.objects.filter(pk=first.pk).update(enabled=False, metadata={"superseded_by": str(second.pk)})
    first.refresh_from_db()
    with pytest.raises(Conflict):
        document_set_enabled(document=first, enabled=True, user=owner)
    response = api(owner).patch(doc_url(kb, first), {"enabled": True}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "superseded"
    page = client_for(owner).get(reverse("kb:detail", args=[kb.pk])).content.decode()
    assert "old version, replaced" in page and f'aria-label="Enable {first.name}"' not in page
    bulk = reverse("kb:documents_bulk", args=[kb.pk])
    client_for(owner).post(bulk, {"action": "enable", "document_ids": [str(first.pk)], "confirmed": "yes"})
    assert not Document.objects.get(pk=first.pk).enabled
