# ruff: noqa: F811  (pytest fixtures imported from tests.api.conftest are parameters here)
"""Retention policies (workspace and KB), legal hold, the retention run and its preview, the audit-log purge, and
the pages and API routes that show and set them. Real database, storage and model; time is moved by giving the
run its `now` or by dating documents back."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from kb.legal_hold import kb_legal_hold_lift, kb_legal_hold_set
from kb.models import Chunk, Document, DocumentStatus
from kb.pipeline import runner
from kb.retention import kb_retention_set, retention_preview, retention_run
from kb.services import document_create_from_text, document_delete, kb_delete
from privexbot.errors import Conflict
from privexbot.metrics.definitions import RETENTION_DOCUMENTS_DELETED
from privexbot.models import AuditEvent, DeletionReceipt
from privexbot.storage import get_storage
from tenants.models import Membership, Role
from tests.api.conftest import api, fresh_throttles  # noqa: F401  (fixtures: the bearer-token client)
from tests.conftest import make_user

TEXT = "Retention keeps a document for a while and then deletes it for good, with its chunks and files. " * 12


def _doc(kb, owner, title, *, age_days=0, updated_days=None, process=False):
    document = document_create_from_text(kb=kb, user=owner, title=title, content=f"{title}. {TEXT}")
    if process:
        assert runner.process(document.pk).status == DocumentStatus.READY
    now = timezone.now()
    updated = now - timedelta(days=age_days if updated_days is None else updated_days)
    Document.objects.filter(pk=document.pk).update(created_at=now - timedelta(days=age_days), updated_at=updated)
    return Document.objects.get(pk=document.pk)


def _policy(obj, days, basis="uploaded", **extra):
    for name, value in {"retention_days": days, "retention_basis": basis, **extra}.items():
        setattr(obj, name, value)
    obj.save()


def _run(captured, **kwargs):
    with captured(execute=True):  # files are removed after commit: run those callbacks
        return retention_run(**kwargs)


@pytest.fixture
def admin(workspace):
    user = make_user("admin")
    Membership.objects.create(user=user, workspace=workspace, role=Role.ADMIN)
    return user


def test_a_document_past_the_workspace_policy_is_deleted_with_its_files_and_chunks_and_one_not_due_stays(
    kb, owner, workspace, no_enqueue, django_capture_on_commit_callbacks
):
    _policy(workspace, 30)
    old = _doc(kb, owner, "Old", age_days=31, process=True)
    fresh = _doc(kb, owner, "Fresh", age_days=29)
    files = [old.stored_file, old.elements_file]
    assert Chunk.objects.filter(document=old).count() > 0 and all(get_storage().exists(f) for f in files)
    deleted_before = RETENTION_DOCUMENTS_DELETED._value.get()

    report = _run(django_capture_on_commit_callbacks)

    assert report.deleted == {str(kb.pk): 1}
    assert not Document.objects.filter(pk=old.pk).exists()
    assert Chunk.objects.filter(document_id=old.pk).count() == 0
    assert not any(get_storage().exists(f) for f in files)
    assert Document.objects.filter(pk=fresh.pk).exists() and get_storage().exists(fresh.stored_file)
    assert RETENTION_DOCUMENTS_DELETED._value.get() == deleted_before + 1
    run = AuditEvent.objects.get(event_type="retention", action="run")
    assert run.details["knowledge_bases"] == {str(kb.pk): 1} and run.details["deleted"] == 1
    deleted = AuditEvent.objects.get(event_type="document", action="delete", resource_id=str(old.pk))
    assert deleted.details["reason"] == "retention"
    (receipt_id,) = report.receipts[str(kb.pk)]
    receipt = DeletionReceipt.objects.get(pk=receipt_id)
    assert receipt.reason == "retention" and receipt.body["document_ids"] == [str(old.pk)]
    assert run.details["receipts"] == {str(kb.pk): [receipt_id]}


def test_a_kb_policy_overrides_the_workspace_policy(
    kb, make_kb, owner, workspace, no_enqueue, django_capture_on_commit_callbacks
):
    _policy(workspace, 30)
    _policy(kb, None, retention_inherit=False)  # its own: keep forever, whatever the workspace says
    kept = _doc(kb, owner, "Kept", age_days=400)
    stricter = make_kb("Stricter")
    _policy(stricter, 5, retention_inherit=False)
    gone = _doc(stricter, owner, "Six days old", age_days=6)
    inheriting = make_kb("Inheriting")
    stays = _doc(inheriting, owner, "Ten days old", age_days=10)

    report = _run(django_capture_on_commit_callbacks)

    assert report.deleted == {str(stricter.pk): 1}
    assert Document.objects.filter(pk__in=[kept.pk, stays.pk]).count() == 2
    assert not Document.objects.filter(pk=gone.pk).exists()


def test_the_updated_basis_counts_from_the_last_update(kb, owner, no_enqueue, django_capture_on_commit_callbacks):
    _policy(kb, 10, "updated", retention_inherit=False)
    touched = _doc(kb, owner, "Old but updated", age_days=20, updated_days=2)
    untouched = _doc(kb, owner, "Old and untouched", age_days=20, updated_days=11)

    _run(django_capture_on_commit_callbacks)

    assert Document.objects.filter(pk=touched.pk).exists()
    assert not Document.objects.filter(pk=untouched.pk).exists()


def test_a_legal_hold_suspends_retention_and_blocks_every_deletion(
    kb,
    owner,
    admin,
    workspace,
    no_enqueue,
    api,
    django_capture_on_commit_callbacks,
):
    _policy(workspace, 1)
    document = _doc(kb, owner, "Evidence", age_days=3)
    with pytest.raises(PermissionDenied):  # admins manage the workspace, but a hold is the owners' decision
        kb_legal_hold_set(kb=kb, user=admin, reason="litigation 2026-17")
    kb_legal_hold_set(kb=kb, user=owner, reason="litigation 2026-17")

    report = _run(django_capture_on_commit_callbacks)
    assert report.deleted == {} and report.held == {str(kb.pk): 1}
    with pytest.raises(Conflict) as refused:
        document_delete(document=document, user=owner)
    assert refused.value.code == "legal_hold"
    with pytest.raises(Conflict):
        kb_delete(kb=kb, user=owner)
    client = api(owner)
    response = client.delete(f"/api/v1/knowledge-bases/{kb.pk}/documents/{document.pk}/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "legal_hold"
    assert client.delete(f"/api/v1/knowledge-bases/{kb.pk}/").status_code == 409
    assert Document.objects.filter(pk=document.pk).exists()

    held = AuditEvent.objects.get(event_type="knowledge_base", action="legal_hold_set")
    assert held.details["before"]["legal_hold"] is False
    assert held.details["after"] == {
        "legal_hold": True, "by": "owner", "at": held.details["after"]["at"], "reason": "litigation 2026-17"
    }  # fmt: skip

    kb_legal_hold_lift(kb=kb, user=owner)
    lifted = AuditEvent.objects.get(event_type="knowledge_base", action="legal_hold_lift")
    assert lifted.details["before"]["legal_hold"] is True and lifted.details["after"]["legal_hold"] is False
    assert _run(django_capture_on_commit_callbacks).deleted == {str(kb.pk): 1}


def test_legal_hold_routes_are_for_owners(kb, owner, admin, member, outsider, api):
    url = f"/api/v1/knowledge-bases/{kb.pk}/legal-hold"
    assert api(outsider).post(url, {"reason": "x"}, format="json").status_code == 404
    assert api(member).post(url, {"reason": "x"}, format="json").status_code == 403
    assert api(admin).post(url, {"reason": "x"}, format="json").status_code == 403
    assert api(owner).post(url, {}, format="json").status_code == 400  # a hold says why
    response = api(owner).post(url, {"reason": "audit by the regulator"}, format="json")
    assert response.status_code == 200 and response.json()["legal_hold"] is True
    assert api(owner).get(f"/api/v1/knowledge-bases/{kb.pk}/").json()["retention"]["legal_hold"]["by"] == "owner"
    assert api(owner).delete(url).json()["legal_hold"] is False


def test_the_preview_lists_exactly_what_the_run_then_deletes(
    kb,
    owner,
    workspace,
    no_enqueue,
    api,
    django_capture_on_commit_callbacks,
):
    _policy(workspace, 7)
    ages = {"a": 30, "b": 8, "c": 7.5, "d": 6.9, "e": 1}
    documents = {name: _doc(kb, owner, name, age_days=age) for name, age in ages.items()}
    now = timezone.now()

    preview = retention_preview(kb=kb, now=now, limit=100)
    due = {d["id"] for d in preview["upcoming"] if d["overdue"]}
    assert due == {documents[n].pk for n in "abc"} and preview["overdue"] == 3
    assert [d["name"] for d in preview["upcoming"]] == ["a", "b", "c", "d", "e"]  # soonest first
    assert preview["upcoming"][3]["due_at"] == documents["d"].created_at + timedelta(days=7)
    body = api(owner).get(f"/api/v1/knowledge-bases/{kb.pk}/retention?limit=100").json()
    assert [d["id"] for d in body["upcoming"] if d["overdue"]] == [str(documents[n].pk) for n in "abc"]
    assert body["policy"] == {"days": 7, "basis": "uploaded", "source": "workspace"}

    report = _run(django_capture_on_commit_callbacks, now=now)
    assert set(Document.objects.filter(kb=kb).values_list("name", flat=True)) == {"d", "e"}
    assert report.deleted == {str(kb.pk): len(due)}


def test_the_audit_purge_respects_audit_retention_days(settings, db, django_capture_on_commit_callbacks):
    settings.AUDIT_RETENTION_DAYS = 10
    from privexbot.audit import audit_record

    older = audit_record(event_type="system", action="older")
    time.sleep(0.01)
    boundary = timezone.now()
    time.sleep(0.01)
    newer = audit_record(event_type="system", action="newer")

    # Ten days after the boundary: `older` is past the audit retention, `newer` is not yet.
    report = _run(django_capture_on_commit_callbacks, now=boundary + timedelta(days=10))
    assert report.audit_purged == 1
    assert not AuditEvent.objects.filter(pk=older.pk).exists()
    assert AuditEvent.objects.filter(pk=newer.pk).exists()
    assert AuditEvent.objects.get(event_type="retention", action="run").details["audit_purged"] == 1


def test_the_dry_run_command_deletes_nothing_and_the_command_deletes(
    kb, owner, workspace, no_enqueue, capsys, django_capture_on_commit_callbacks
):
    _policy(workspace, 2)
    document = _doc(kb, owner, "Due", age_days=3)
    call_command("retention_run", "--dry-run")
    assert "would delete 1 documents" in capsys.readouterr().out
    assert Document.objects.filter(pk=document.pk).exists()
    assert not AuditEvent.objects.filter(event_type="retention").exists()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("retention_run")
    assert "deleted 1 documents" in capsys.readouterr().out
    assert not Document.objects.filter(pk=document.pk).exists()


def test_the_periodic_job_is_registered_with_its_interval(settings):
    from kb.actors import retention_periodic

    assert django_settings.PERIODIC_JOBS["kb.actors.retention_periodic"] == django_settings.RETENTION_INTERVAL
    assert callable(retention_periodic)


def test_the_kb_policy_is_set_by_owners_and_admins_with_before_and_after(kb, owner, admin, member, api):
    with pytest.raises(PermissionDenied):
        kb_retention_set(kb=kb, user=member, days=3)
    response = api(member).patch(f"/api/v1/knowledge-bases/{kb.pk}/", {"retention_days": 3}, format="json")
    assert response.status_code == 403
    url = f"/api/v1/knowledge-bases/{kb.pk}/"
    response = api(admin).patch(url, {"retention_days": 90, "retention_basis": "updated"}, format="json")
    assert response.status_code == 200
    assert response.json()["retention"]["effective"] == {"days": 90, "basis": "updated", "source": "knowledge_base"}
    event = AuditEvent.objects.get(event_type="knowledge_base", action="retention_policy")
    assert event.details["before"] == {"inherit": True, "retention_days": None, "retention_basis": "uploaded"}
    assert event.details["after"] == {"inherit": False, "retention_days": 90, "retention_basis": "updated"}
    assert api(owner).patch(url, {"retention_days": 0}, format="json").status_code == 400
    response = api(owner).patch(url, {"retention_inherit": True}, format="json")
    assert response.json()["retention"]["effective"]["source"] == "workspace"


def test_the_workspace_policy_through_the_api_and_the_page(workspace, owner, viewer, outsider, api, client_for):
    url = f"/api/v1/workspaces/{workspace.pk}/"
    assert api(viewer).patch(url, {"retention_days": 30}, format="json").status_code == 403
    assert api(outsider).patch(url, {"retention_days": 30}, format="json").status_code == 404
    response = api(owner).patch(url, {"retention_days": 30, "retention_basis": "updated"}, format="json")
    assert response.status_code == 200 and response.json()["retention_days"] == 30
    event = AuditEvent.objects.get(event_type="workspace", action="retention_policy")
    assert event.details == {"before": {"retention_days": None, "retention_basis": "uploaded"},
                             "after": {"retention_days": 30, "retention_basis": "updated"}}  # fmt: skip

    page = reverse("workspaces:detail", args=[workspace.pk])
    assert 'id="retention"' in client_for(owner).get(page).content.decode()
    save = reverse("workspaces:retention", args=[workspace.pk])
    assert client_for(viewer).post(save, {"retention_days": "", "retention_basis": "uploaded"}).status_code == 403
    response = client_for(owner).post(save, {"retention_days": "", "retention_basis": "uploaded"})
    assert response.status_code == 302
    workspace.refresh_from_db()
    assert workspace.retention_days is None


def test_the_settings_pages_show_what_is_due_for_owners_and_refuse_others(
    kb, owner, viewer, outsider, workspace, no_enqueue, client_for
):
    _policy(workspace, 14)
    _doc(kb, owner, "Quarterly report", age_days=20)
    _doc(kb, owner, "Onboarding notes", age_days=1)
    settings_url = reverse("kb:settings", args=[kb.pk])

    page = client_for(owner).get(settings_url).content.decode()
    assert "Quarterly report" in page and "Onboarding notes" in page and "14 days after their upload" in page
    assert "Put under legal hold" in page and "Save policy" in page
    due = client_for(owner).get(reverse("kb:workspace_retention_due", args=[workspace.pk])).content.decode()
    assert due.index("Quarterly report") < due.index("Onboarding notes") and "1</strong> document due now" in due

    assert client_for(viewer).get(settings_url).status_code == 403
    assert client_for(outsider).get(settings_url).status_code == 404
    assert client_for(outsider).get(reverse("kb:workspace_retention_due", args=[workspace.pk])).status_code == 404
    hold = reverse("kb:legal_hold", args=[kb.pk])
    assert client_for(viewer).post(hold, {"action": "set", "reason": "x"}).status_code == 403

    response = client_for(owner).post(hold, {"action": "set", "reason": "tax inspection"})
    assert response.status_code == 302
    page = client_for(owner).get(settings_url).content.decode()
    assert "Under legal hold" in page and "tax inspection" in page and "Lift the legal hold" in page
    delete = client_for(owner).post(reverse("kb:delete", args=[kb.pk]), {"confirm_name": kb.name})
    assert delete.status_code == 409 and "under legal hold" in delete.content.decode()
