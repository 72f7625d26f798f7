"""Deleting a workspace or an organization goes through tenants.workspaces (KBs through kb.deletion with receipts
and shredded files, drafts with their files, audited) from every door: the admin's delete page, its "delete
selected" action, the service itself. A KB under legal hold refuses it all."""

import io
import uuid

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.urls import reverse

from drafts.models import DraftSource, KBDraft
from drafts.services import draft_create, draft_source_add_text
from kb.models import Chunk, Document, EmbeddingCache, KnowledgeBase
from kb.pipeline import runner
from kb.services import document_create_from_text
from privexbot.errors import ServiceError
from privexbot.models import AuditEvent, DeletionReceipt
from privexbot.storage import get_storage
from tenants.models import ApiToken, Invitation, Membership, Organization, Role, Workspace
from tenants.workspaces import organization_delete, workspace_delete

TEXT = (
    "The harbour master records every tide in the green ledger at dawn. "
    "Mooring ropes are checked each Sunday before the ferry leaves.\n\n"
) * 6


@pytest.fixture
def admin_client_(client, db):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    return client


@pytest.fixture
def no_enqueue(monkeypatch):
    from drafts import services as draft_services
    from kb import services as kb_services

    monkeypatch.setattr(kb_services, "_enqueue", lambda ids: None)
    monkeypatch.setattr(draft_services, "_enqueue", lambda actor, pk: None)


@pytest.fixture
def filled(workspace, owner, member, kb, no_enqueue):
    """The workspace with an indexed document, a draft adding to its KB, a draft of its own, a pending
    invitation and a key limited to the KB: what a deletion must take."""
    document = document_create_from_text(kb=kb, user=owner, title="Tides", content=f"{TEXT} Run {uuid.uuid4()}.")
    runner.process(document.pk)
    document.refresh_from_db()
    assert document.status == "ready" and Chunk.objects.filter(document=document).exists()
    adding = draft_create(workspace=workspace, user=owner, name="More tides", target_kb=kb)
    adding_source = draft_source_add_text(draft=adding, user=owner, title="Extra", content=f"{TEXT} {uuid.uuid4()}")
    own = draft_create(workspace=workspace, user=member, name="New KB")
    own_source = draft_source_add_text(draft=own, user=member, title="Notes", content=f"{TEXT} {uuid.uuid4()}")
    Invitation.objects.create(
        workspace=workspace, email="new@example.com", token_hash=uuid.uuid4().hex, invited_by=owner,
        expires_at="2099-01-01T00:00:00Z",
    )  # fmt: skip
    key = ApiToken.objects.create(user=member, prefix="pxb_x", token_hash=uuid.uuid4().hex, kb_ids=[kb.pk])
    files = [f for obj in (document, adding_source, own_source) for f in (obj.stored_file, obj.elements_file) if f]
    assert len(files) == 6 and all(get_storage().exists(f) for f in files)
    return {"document": document, "drafts": [adding, own], "files": files, "key": key}


def _delete_page(client, obj):
    url = reverse("admin:tenants_workspace_delete", args=[obj.pk])
    page = client.get(url)
    assert page.status_code == 200 and b"permission to delete" not in page.content, page.content[:2000]
    return client.post(url, {"post": "yes"})


def _delete_selected(client, model: str, objs):
    url = reverse(f"admin:tenants_{model}_changelist")
    data = {"action": "delete_selected", admin.helpers.ACTION_CHECKBOX_NAME: [str(o.pk) for o in objs]}
    confirm = client.post(url, data)
    assert confirm.status_code == 200 and b"permission to delete" not in confirm.content
    return client.post(url, {**data, "post": "yes"})


def _everything_gone(workspace, kb, filled) -> None:
    assert not Workspace.objects.filter(pk=workspace.pk).exists()
    assert not KnowledgeBase.objects.filter(pk=kb.pk).exists()
    assert not Document.objects.filter(pk=filled["document"].pk).exists() and not Chunk.objects.filter(kb_id=kb.pk)
    assert not KBDraft.objects.filter(pk__in=[d.pk for d in filled["drafts"]]).exists()
    assert not DraftSource.objects.filter(draft_id__in=[d.pk for d in filled["drafts"]]).exists()
    assert not any(get_storage().exists(f) for f in filled["files"])  # shredded, not just unlinked rows
    assert not Membership.objects.filter(workspace_id=workspace.pk).exists()
    assert not Invitation.objects.filter(workspace_id=workspace.pk).exists()


@pytest.mark.parametrize("door", ["delete_page", "delete_selected"])
def test_admin_delete_of_a_workspace_goes_through_the_deletion_service(
    door, admin_client_, workspace, kb, filled, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        if door == "delete_page":
            response = _delete_page(admin_client_, workspace)
        else:
            response = _delete_selected(admin_client_, "workspace", [workspace])
    assert response.status_code == 302
    _everything_gone(workspace, kb, filled)
    assert ApiToken.objects.get(pk=filled["key"].pk).revoked_at is not None  # limited to the deleted KB only
    receipt = DeletionReceipt.objects.get(body__knowledge_base_id=str(kb.pk))
    assert receipt.reason == "workspace_deleted" and receipt.body["document_ids"] == [str(filled["document"].pk)]
    assert filled["document"].content_hash in receipt.body["hashes"]["files_sha256"]
    assert receipt.body["counts"]["drafts"] == 1  # the draft adding to the KB went with it, in its receipt
    event = AuditEvent.objects.get(event_type="workspace", action="delete", resource_id=str(workspace.pk))
    assert event.username == "root" and event.details["reason"] == "admin"
    assert event.details["knowledge_bases"] == 1 and event.details["drafts"] == 1 and event.details["members"] == 2
    assert event.details["receipt_ids"] == [str(receipt.pk)] and event.details["invitations"] == 1
    assert AuditEvent.objects.filter(event_type="knowledge_base", action="delete", resource_id=str(kb.pk)).exists()
    assert AuditEvent.objects.filter(event_type="kb_draft", resource_id=str(filled["drafts"][1].pk)).exists()
    out = io.StringIO()
    call_command("verify_deletion", str(receipt.pk), stdout=out)  # every store re-scanned for the hashes
    assert "0 traces" in out.getvalue()


@pytest.mark.parametrize("door", ["delete_page", "delete_selected"])
def test_a_legal_hold_refuses_the_workspace_delete_and_nothing_goes(door, admin_client_, workspace, kb, filled):
    KnowledgeBase.objects.filter(pk=kb.pk).update(legal_hold=True, legal_hold_reason="litigation")
    if door == "delete_page":
        response = _delete_page(admin_client_, workspace)
    else:
        response = _delete_selected(admin_client_, "workspace", [workspace])
    assert response.status_code == 302
    shown = [str(m) for m in admin_client_.get(response["Location"]).context["messages"]]
    assert any("legal hold" in m and workspace.name in m for m in shown), shown
    assert Workspace.objects.filter(pk=workspace.pk).exists() and KnowledgeBase.objects.filter(pk=kb.pk).exists()
    assert Document.objects.filter(pk=filled["document"].pk).exists() and Chunk.objects.filter(kb=kb).exists()
    assert KBDraft.objects.filter(pk__in=[d.pk for d in filled["drafts"]]).count() == 2
    assert all(get_storage().exists(f) for f in filled["files"])
    assert Membership.objects.filter(workspace=workspace).count() == 2
    assert not DeletionReceipt.objects.exists()
    assert ApiToken.objects.get(pk=filled["key"].pk).revoked_at is None


@pytest.mark.django_db(databases=["default", "audit"])
def test_the_refusal_is_audited_as_a_failed_event(settings, workspace, kb, owner):
    """On the production path the event is written on the audit connection and outlives the business rollback.
    (The test runner wraps that connection in a transaction of its own, rolled back at the end: read it there.)"""
    from privexbot.audit import rollback

    settings.AUDIT_DB_ALIAS = "audit"
    KnowledgeBase.objects.filter(pk=kb.pk).update(legal_hold=True, legal_hold_reason="litigation")
    with pytest.raises(ServiceError) as refused:
        workspace_delete(workspace=workspace, user=owner)
    rollback._pending().clear()
    assert refused.value.code == "legal_hold" and "Product docs" in refused.value.message
    event = AuditEvent.objects.using("audit").get(event_type="workspace", action="delete", success=False)
    assert event.resource_id == str(workspace.pk) and event.details["refused"] == "legal_hold"
    assert Workspace.objects.filter(pk=workspace.pk).exists()


def test_who_may_delete_a_workspace(workspace, kb, owner, member, outsider):
    for user in (member, outsider):
        with pytest.raises(PermissionDenied):
            workspace_delete(workspace=workspace, user=user)
    assert KnowledgeBase.objects.filter(pk=kb.pk).exists()
    counts = workspace_delete(workspace=workspace, user=owner)  # an owner may (no UI door for it yet)
    assert counts["knowledge_bases"] == 1 and not Workspace.objects.filter(pk=workspace.pk).exists()


def test_admin_delete_of_an_organization_takes_every_workspace_through_the_service(
    admin_client_, org, workspace, kb, filled, owner, django_capture_on_commit_callbacks
):
    sales = Workspace.objects.create(organization=org, name="Sales")
    Membership.objects.create(user=owner, workspace=sales, role=Role.OWNER)
    other = KnowledgeBase.objects.create(workspace=sales, name="Sales KB", created_by=owner)
    assert EmbeddingCache.objects.filter(organization_id=org.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = _delete_selected(admin_client_, "organization", [org])
    assert response.status_code == 302
    _everything_gone(workspace, kb, filled)
    assert not Organization.objects.filter(pk=org.pk).exists() and not KnowledgeBase.objects.filter(pk=other.pk)
    assert not EmbeddingCache.objects.filter(organization_id=org.pk).exists()
    assert DeletionReceipt.objects.filter(organization_id=org.pk).count() == 2
    event = AuditEvent.objects.get(event_type="organization", action="delete", resource_id=str(org.pk))
    assert event.details["workspaces"] == 2 and event.details["knowledge_bases"] == 2
    assert AuditEvent.objects.filter(event_type="workspace", action="delete").count() == 2


def test_a_legal_hold_in_one_workspace_refuses_the_organization_delete(org, workspace, kb, owner, no_enqueue):
    sales = Workspace.objects.create(organization=org, name="Sales")
    held = KnowledgeBase.objects.create(workspace=sales, name="Held", created_by=owner, legal_hold=True)
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    with pytest.raises(ServiceError, match="Held"):
        organization_delete(organization=org, user=root)
    assert KnowledgeBase.objects.filter(pk__in=[kb.pk, held.pk]).count() == 2  # the first workspace kept its KB too
    with pytest.raises(PermissionDenied):
        organization_delete(organization=org, user=owner)  # owning workspaces is not owning the organization


def test_the_organization_page_cannot_delete_a_workspace_inline(admin_client_, org, workspace):
    page = admin_client_.get(reverse("admin:tenants_organization_change", args=[org.pk]))
    assert page.status_code == 200 and b"workspaces-0-DELETE" not in page.content
    assert b"workspaces-0-name" in page.content  # the inline is there, without its delete box
