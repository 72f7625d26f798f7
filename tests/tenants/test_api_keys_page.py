"""The API key page (/profile/api-keys/): list, create (shown once), revoke, rotate — through the token rules
and the KB funnel, CSRF-protected, audited."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from kb.models import KnowledgeBase
from privexbot.models import AuditEvent
from tenants.models import ApiToken, Organization, Workspace
from tenants.tokens import api_token_create

pytestmark = pytest.mark.django_db
URL = "/profile/api-keys/"


def _shown_key(html: str) -> str:
    match = re.search(r'value="(pxb_[^"]+)" data-new-key', html)
    assert match, "no key shown"
    return match.group(1)


def test_the_url_name_and_login_required(client):
    assert reverse("api_keys:list") == URL
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_kb_choices_come_from_the_funnel(client_for, owner, kb, outsider):
    theirs = KnowledgeBase.objects.create(
        workspace=Workspace.objects.create(organization=Organization.objects.create(name="Initech"), name="W"),
        name="Their secret KB",
        created_by=outsider,
    )
    html = client_for(owner).get(URL).content.decode()
    assert "Support / Product docs" in html and str(kb.pk) in html
    assert theirs.name not in html and str(theirs.pk) not in html
    response = client_for(owner).post(URL, {"scope": "search", "kb_ids": [str(theirs.pk)], "expires_in_days": 5})
    assert response.status_code == 400 and not ApiToken.objects.exists()


def test_create_shows_the_key_once_and_it_works_within_its_scope(client_for, owner, kb, settings):
    settings.API_TOKEN_MAX_DAYS = 30
    page = client_for(owner)
    response = page.post(URL, {"name": "support bot", "scope": "search", "kb_ids": [str(kb.pk)], "expires_in_days": 7})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    key = _shown_key(response.content.decode())
    row = ApiToken.objects.get()
    assert (row.name, row.scopes, row.kb_ids, row.created_by_token) == ("support bot", ["search"], [kb.pk], None)
    listing = page.get(URL).content.decode()
    assert key not in listing and row.prefix in listing and "Support / Product docs" in listing
    bot = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    search = bot.post(f"/api/v1/knowledge-bases/{kb.pk}/search", {"query": "x"}, content_type="application/json")
    assert search.status_code == 200
    assert bot.get(f"/api/v1/knowledge-bases/{kb.pk}/").status_code == 403
    assert AuditEvent.objects.filter(event_type="api_token", action="create", resource_id=str(row.pk)).exists()

    too_long = page.post(URL, {"scope": "read", "expires_in_days": 31})
    assert too_long.status_code == 400 and b"at most 30" in too_long.content
    never = page.post(URL, {"scope": "read", "never_expires": "on"})
    assert never.status_code == 400 and ApiToken.objects.count() == 1  # the choice is not even offered
    settings.API_TOKEN_ALLOW_NEVER_EXPIRES = True
    assert b"Never expires" in page.get(URL).content
    assert page.post(URL, {"scope": "read", "never_expires": "on"}).status_code == 200
    assert ApiToken.objects.filter(expires_at__isnull=True).count() == 1


def test_revoke_and_rotate_are_csrf_protected_posts_on_your_own_keys(owner, member):
    row, key = api_token_create(user=owner, name="bot", scopes=["search"])
    theirs, _ = api_token_create(user=member)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)
    assert strict.post(reverse("api_keys:revoke", args=[row.pk])).status_code == 403  # no CSRF token
    page = Client()
    page.force_login(owner)
    assert page.get(reverse("api_keys:revoke", args=[row.pk])).status_code == 405
    assert page.post(reverse("api_keys:revoke", args=[theirs.pk])).status_code == 404
    assert page.post(reverse("api_keys:rotate", args=[theirs.pk])).status_code == 404

    rotated = page.post(reverse("api_keys:rotate", args=[row.pk]))
    assert rotated.status_code == 200
    new_key = _shown_key(rotated.content.decode())
    new = ApiToken.objects.exclude(pk__in=[row.pk, theirs.pk]).get()
    assert new_key != key and new.scopes == ["search"] and new.name == "bot"
    revoked = page.post(reverse("api_keys:revoke", args=[new.pk]))
    assert revoked.status_code == 302
    new.refresh_from_db()
    theirs.refresh_from_db()
    assert new.revoked_at is not None and theirs.revoked_at is None
    actions = set(AuditEvent.objects.filter(event_type="api_token", user=owner).values_list("action", flat=True))
    assert {"rotate", "revoke"} <= actions
    assert 'data-status="revoked"' in page.get(URL).content.decode()
