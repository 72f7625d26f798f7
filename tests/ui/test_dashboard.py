"""The dashboard: KBs with status and counts, drafts in progress, workspace switcher."""

from django.urls import reverse

from drafts.services import draft_create
from kb.models import KnowledgeBase
from tenants.models import Membership, Role, Workspace


def test_dashboard_shows_kbs_with_status_and_drafts(client_for, owner, kb, documents, draft):
    html = client_for(owner).get(reverse("home")).content.decode()
    assert reverse("kb:detail", args=[kb.pk]) in html and "ready, with errors" in html
    assert "2 documents · 2 chunks" in html
    assert reverse("drafts:resume", args=[draft.pk]) in html and "Drafts in progress" in html


def test_workspace_switcher_scopes_the_dashboard(client_for, owner, org, kb):
    second = Workspace.objects.create(organization=org, name="Sales")
    Membership.objects.create(user=owner, workspace=second, role=Role.VIEWER)
    KnowledgeBase.objects.create(workspace=second, name="Pricing")
    client = client_for(owner)
    html = client.get(reverse("home")).content.decode()  # the first workspace by name: Sales
    assert 'name="workspace"' in html and "Pricing" in html and "Product docs" not in html
    html = client.get(reverse("home"), {"workspace": kb.workspace_id}).content.decode()
    assert "Product docs" in html and "Pricing" not in html and "Create knowledge base" in html
    html = client.get(reverse("home"), {"workspace": second.pk}).content.decode()
    assert "Pricing" in html and "Product docs" not in html and "Create knowledge base" not in html
    assert "Pricing" in client.get(reverse("home")).content.decode()  # remembered in the session
    html = client.get(reverse("home"), {"workspace": "not-a-uuid"}).content.decode()
    assert "Pricing" in html


def test_outsider_workspace_id_is_ignored(client_for, outsider, workspace, kb):
    html = client_for(outsider).get(reverse("home"), {"workspace": workspace.pk}).content.decode()
    assert "Product docs" not in html and "Globex main" in html


def test_draft_names_are_escaped(client_for, owner, workspace):
    draft_create(workspace=workspace, user=owner, name="<script>alert(2)</script>")
    html = client_for(owner).get(reverse("home")).content.decode()
    assert "<script>alert(2)" not in html and "&lt;script&gt;alert(2)" in html


def test_member_without_workspace_gets_a_next_step(client_for, db):
    from tests.conftest import make_user

    html = client_for(make_user("lonely")).get(reverse("home")).content.decode()
    assert "not a member of any workspace" in html
