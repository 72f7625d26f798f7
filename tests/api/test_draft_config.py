"""PATCH /kb-drafts/{id}/config: the rules live in the service, so the API enforces what the wizard does."""

import pytest

from drafts.models import KBDraft
from drafts.services import draft_create


@pytest.fixture
def adding_draft(workspace, owner, kb):
    return draft_create(workspace=workspace, user=owner, name="More sources", target_kb=kb)


def _patch(client, draft, body):
    return client.patch(f"/api/v1/kb-drafts/{draft.pk}/config", body, format="json")


def test_the_api_cannot_change_the_chunking_of_a_draft_that_adds_to_an_existing_kb(api, owner, adding_draft, kb):
    before = KBDraft.objects.get(pk=adding_draft.pk).chunking_config
    changed = {**kb.chunking_config, "chunk_size": 300, "chunk_overlap": 0}
    response = _patch(api(owner), adding_draft, {"chunking_config": changed})
    assert response.status_code == 400, response.content
    assert "chunking_config" in response.json()["error"]["details"]
    assert KBDraft.objects.get(pk=adding_draft.pk).chunking_config == before == kb.chunking_config


def test_the_kb_s_own_settings_are_accepted_unchanged(api, owner, adding_draft, kb):
    response = _patch(api(owner), adding_draft, {"chunking_config": kb.chunking_config})
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "body",
    [
        {"vector_store_config": {"distance_metric": "euclidean"}},
        {"embedding_config": {"batch_size": 8}},
    ],
)
def test_nor_its_embedding_or_vector_store_settings(api, owner, adding_draft, body):
    before = KBDraft.objects.values("embedding_config", "vector_store_config").get(pk=adding_draft.pk)
    response = _patch(api(owner), adding_draft, body)
    assert response.status_code == 400, response.content
    assert KBDraft.objects.values("embedding_config", "vector_store_config").get(pk=adding_draft.pk) == before


def test_a_partial_embedding_config_keeps_the_rest(api, owner, workspace):
    draft = draft_create(workspace=workspace, user=owner, name="New KB")
    response = _patch(api(owner), draft, {"embedding_config": {"batch_size": 16}})
    assert response.status_code == 200, response.content
    config = KBDraft.objects.get(pk=draft.pk).embedding_config
    assert (config["model"], config["dimensions"], config["batch_size"]) == ("all-MiniLM-L6-v2", 384, 16)


def test_dimensions_must_match_the_model(api, owner, workspace):
    draft = draft_create(workspace=workspace, user=owner, name="New KB")
    response = _patch(api(owner), draft, {"embedding_config": {"dimensions": 768}})
    assert response.status_code == 400
    assert "384" in response.json()["error"]["message"]
