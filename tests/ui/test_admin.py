"""Django admin: every model listed and searchable, audit read-only, actions go through kb.services."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from kb.models import Document
from privexbot.audit import audit_record
from privexbot.models import AuditEvent


@pytest.fixture
def admin_client_(client, db):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def test_every_project_model_is_registered():
    for app in ("tenants", "kb", "drafts", "privexbot"):
        for model in apps.get_app_config(app).get_models():
            assert admin.site.is_registered(model), model


def test_changelists_search_and_filters_load(admin_client_, kb, documents, draft, text_source, owner):
    audit_record(event_type="test", action="view", user=owner)
    for model, _ in admin.site._registry.items():
        meta = model._meta
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        response = admin_client_.get(url, {"q": "x"} if admin.site._registry[model].search_fields else {})
        assert response.status_code == 200, url
    assert admin_client_.get(reverse("admin:kb_document_changelist"), {"status": "failed"}).status_code == 200
    doc_url = reverse("admin:kb_document_change", args=[documents["ready"].pk])
    assert admin_client_.get(doc_url).status_code == 200
    chunk = documents["ready"].chunks.first()
    assert admin_client_.get(reverse("admin:kb_chunk_change", args=[chunk.pk])).status_code == 200


def test_audit_events_are_read_only(admin_client_, owner):
    event = audit_record(event_type="test", action="view", user=owner)
    assert admin_client_.get(reverse("admin:privexbot_auditevent_add")).status_code == 403
    change = reverse("admin:privexbot_auditevent_change", args=[event.pk])
    page = admin_client_.get(change)
    assert page.status_code == 200 and 'name="event_type"' not in page.content.decode()
    admin_client_.post(change, {"event_type": "forged"})
    event.refresh_from_db()
    assert event.event_type == "test"
    assert admin_client_.post(reverse("admin:privexbot_auditevent_delete", args=[event.pk])).status_code == 403


def _action(client, model, action, pks):
    url = reverse(f"admin:{model}_changelist")
    return client.post(url, {"action": action, admin.helpers.ACTION_CHECKBOX_NAME: [str(pk) for pk in pks]})


def test_reprocess_action(admin_client_, documents, no_enqueue):
    _action(admin_client_, "kb_document", "reprocess", [documents["failed"].pk])
    documents["failed"].refresh_from_db()
    assert documents["failed"].status == "queued" and documents["failed"].attempts == 0
    assert ("document", str(documents["failed"].pk)) in no_enqueue


def test_requeue_stuck_only_touches_stuck_documents(admin_client_, kb, documents, no_enqueue):
    stuck = Document.objects.create(
        kb=kb, source_type="text_input", name="stuck", status="embedding", attempts=1,
        heartbeat_at=timezone.now() - timezone.timedelta(hours=1),
    )  # fmt: skip
    _action(admin_client_, "kb_document", "requeue_stuck", [stuck.pk, documents["ready"].pk])
    stuck.refresh_from_db()
    documents["ready"].refresh_from_db()
    assert stuck.status == "queued" and stuck.attempts == 1
    assert documents["ready"].status == "ready"
    assert no_enqueue == [("document", str(stuck.pk))]


def test_rebuild_index_action(admin_client_, kb, documents, no_enqueue):
    _action(admin_client_, "kb_knowledgebase", "rebuild_index", [kb.pk])
    assert set(Document.objects.filter(kb=kb).values_list("status", flat=True)) == {"queued"}
    assert len(no_enqueue) == 2
    assert AuditEvent.objects.filter(action="reindex", resource_id=str(kb.pk)).exists()
