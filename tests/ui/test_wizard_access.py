"""Who may open the wizard: outsiders get 404 on every step, viewers 403, and nobody posts without CSRF."""

import pytest
from django.test import Client
from django.urls import reverse

from drafts.models import KBDraft

STEP_URLS = ["resume", "basics", "sources", "chunking", "embedding", "review"]
POST_URLS = ["add_files", "add_text", "add_website", "chunking_preview", "finalize", "discard"]


@pytest.mark.parametrize("name", STEP_URLS)
def test_outsider_gets_404_and_viewer_403_on_every_step(client_for, draft, outsider, viewer, name):
    url = reverse(f"drafts:{name}", args=[draft.pk])
    assert client_for(outsider).get(url).status_code == 404
    assert client_for(viewer).get(url).status_code == 403


@pytest.mark.parametrize("name", POST_URLS)
def test_outsider_and_viewer_cannot_post(client_for, draft, outsider, viewer, no_enqueue, name):
    url = reverse(f"drafts:{name}", args=[draft.pk])
    assert client_for(outsider).post(url, {"title": "x", "content": "y" * 20}).status_code == 404
    assert client_for(viewer).post(url, {"title": "x", "content": "y" * 20}).status_code == 403
    assert KBDraft.objects.filter(pk=draft.pk).exists() and not draft.sources.exists()


def test_source_urls_check_the_draft(client_for, draft, text_source, outsider, workspace, owner):
    from drafts.services import draft_create

    other = draft_create(workspace=workspace, user=owner, name="Other")
    url = reverse("drafts:remove_source", args=[other.pk, text_source.pk])  # a source of another draft
    assert client_for(owner).post(url).status_code == 404
    url = reverse("drafts:remove_source", args=[draft.pk, text_source.pk])
    assert client_for(outsider).post(url).status_code == 404
    assert draft.sources.count() == 1


def test_anonymous_is_sent_to_login(client, draft):
    response = client.get(reverse("drafts:sources", args=[draft.pk]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_csrf_is_enforced_and_the_htmx_header_is_accepted(draft, owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    url = reverse("drafts:add_text", args=[draft.pk])
    data = {"title": "Hours", "content": "We are open nine to five on weekdays."}
    assert client.post(url, data).status_code == 403
    page = client.get(reverse("drafts:sources", args=[draft.pk]))
    token = page.cookies["csrftoken"].value
    assert 'hx-headers=\'{"X-CSRFToken": "' in page.content.decode()  # what htmx sends with every request
    response = client.post(url, data, HTTP_X_CSRFTOKEN=token, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert draft.sources.filter(name="Hours").exists()
