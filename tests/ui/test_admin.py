"""Django admin: every model listed and searchable, audit read-only, actions go through kb.services."""

import io
import json

import pytest
from django.apps import apps
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from guardian.models import UserObjectPermission
from guardian.shortcuts import assign_perm

from drafts.models import KBDraft
from drafts.services import draft_source_add_file
from kb.models import Chunk, Document, KnowledgeBase
from kb.services import document_create_from_text
from privexbot.audit import audit_record
from privexbot.models import AuditEvent
from privexbot.storage import get_storage
from tenants.models import Workspace
from tests.ui.conftest import TEXT


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


# --- every door through the services: deletes, edits and additions in the admin --------------------------------


@pytest.fixture
def stored_document(kb, owner, no_enqueue):
    """A document with an encrypted original and its elements on disk, made the way the API makes it."""
    return document_create_from_text(kb=kb, user=owner, title="Warranty", content=TEXT)


@pytest.fixture
def file_source(draft, owner, no_enqueue):
    return draft_source_add_file(
        draft=draft, user=owner, filename="notes.txt", fileobj=io.BytesIO(TEXT.encode()), title="Notes"
    )


def _files(*objs) -> list[str]:
    files = [f for obj in objs for f in (obj.stored_file, obj.elements_file) if f]
    assert files and all(get_storage().exists(f) for f in files)
    return files


def _gone(files) -> bool:
    return not any(get_storage().exists(f) for f in files)


def _audited(action: str, obj) -> bool:
    return AuditEvent.objects.filter(action=action, resource_id=str(obj.pk)).exists()


def _delete_page(client, model: str, obj):
    url = reverse(f"admin:{model}_delete", args=[obj.pk])
    page = client.get(url)
    assert page.status_code == 200 and b"permission to delete" not in page.content
    return client.post(url, {"post": "yes"})


def _delete_through(door: str, client, model: str, obj):
    """Delete one object through the admin's delete page or its "delete selected" action."""
    return _delete_page(client, model, obj) if door == "delete_page" else _delete_selected(client, model, [obj])


def _delete_selected(client, model: str, objs):
    url = reverse(f"admin:{model}_changelist")
    data = {"action": "delete_selected", admin.helpers.ACTION_CHECKBOX_NAME: [str(o.pk) for o in objs]}
    confirm = client.post(url, data)
    assert confirm.status_code == 200 and b"permission to delete" not in confirm.content
    return client.post(url, {**data, "post": "yes"})


def _grant_read(kb):
    reader = get_user_model().objects.create_user("reader", "reader@example.com", "pw")
    assign_perm("kb.kb_read", reader, kb)
    assert UserObjectPermission.objects.filter(object_pk=str(kb.pk)).exists()


@pytest.mark.parametrize("door", ["delete_page", "delete_selected"])
def test_kb_delete_goes_through_kb_delete(
    door, admin_client_, kb, documents, stored_document, django_capture_on_commit_callbacks
):
    files = _files(stored_document)
    _grant_read(kb)
    with django_capture_on_commit_callbacks(execute=True):
        response = _delete_through(door, admin_client_, "kb_knowledgebase", kb)
    assert response.status_code == 302
    assert not KnowledgeBase.objects.filter(pk=kb.pk).exists() and not Chunk.objects.filter(kb_id=kb.pk).exists()
    assert _gone(files)
    assert not UserObjectPermission.objects.filter(object_pk=str(kb.pk)).exists()
    assert _audited("delete", kb)


@pytest.mark.parametrize("door", ["delete_page", "delete_selected"])
def test_a_legal_hold_refuses_the_admin_delete_with_a_message(door, admin_client_, kb, stored_document):
    KnowledgeBase.objects.filter(pk=kb.pk).update(legal_hold=True, legal_hold_reason="litigation")
    response = _delete_through(door, admin_client_, "kb_knowledgebase", kb)
    assert response.status_code == 302
    shown = [str(m) for m in admin_client_.get(response["Location"]).context["messages"]]
    assert any("legal hold" in m.lower() for m in shown), shown
    assert KnowledgeBase.objects.filter(pk=kb.pk).exists() and Document.objects.filter(pk=stored_document.pk).exists()


@pytest.mark.parametrize("door", ["delete_page", "delete_selected"])
def test_document_delete_goes_through_document_delete(
    door, admin_client_, stored_document, django_capture_on_commit_callbacks
):
    files = _files(stored_document)
    with django_capture_on_commit_callbacks(execute=True):
        response = _delete_through(door, admin_client_, "kb_document", stored_document)
    assert response.status_code == 302 and not Document.objects.filter(pk=stored_document.pk).exists()
    assert _gone(files)
    assert _audited("delete", stored_document)


@pytest.mark.parametrize("door", ["delete_page", "delete_selected"])
def test_draft_delete_goes_through_draft_delete(
    door, admin_client_, draft, file_source, text_source, django_capture_on_commit_callbacks
):
    files = _files(file_source, text_source)
    with django_capture_on_commit_callbacks(execute=True):
        response = _delete_through(door, admin_client_, "drafts_kbdraft", draft)
    assert response.status_code == 302 and not KBDraft.objects.filter(pk=draft.pk).exists()
    assert _gone(files)
    assert _audited("deleted", draft)


def test_draft_source_delete_goes_through_draft_source_remove(
    admin_client_, draft, file_source, text_source, django_capture_on_commit_callbacks
):
    files = _files(file_source)
    with django_capture_on_commit_callbacks(execute=True):
        response = _delete_page(admin_client_, "drafts_draftsource", file_source)
    assert response.status_code == 302 and list(draft.sources.all()) == [text_source]
    assert _gone(files) and get_storage().exists(text_source.stored_file)
    assert _audited("remove_source", file_source)


def _kb_form(kb, **changes) -> dict:
    data = {"name": kb.name, "description": kb.description, "context_settings": json.dumps(kb.context_settings)}
    return {**data, **changes}


def test_kb_change_form_cannot_change_configs_and_audits_the_update(admin_client_, kb):
    url = reverse("admin:kb_knowledgebase_change", args=[kb.pk])
    page = admin_client_.get(url).content.decode()
    for field in ("workspace", "chunking_config", "embedding_config", "vector_store_config", "language"):
        assert f'name="{field}"' not in page, field
    original = kb.chunking_config
    other_workspace = Workspace.objects.create(organization=kb.workspace.organization, name="Elsewhere")
    forged = {
        "chunking_config": json.dumps({**original, "chunk_size": 50}),
        "embedding_config": json.dumps({"provider": "openai", "model": "x"}),
        "workspace": str(other_workspace.pk),
        "language": "german",
    }
    response = admin_client_.post(url, _kb_form(kb, name="Renamed docs", **forged))
    assert response.status_code == 302
    kb.refresh_from_db()
    assert kb.name == "Renamed docs" and kb.chunking_config == original
    assert kb.embedding_config["provider"] == "sentence_transformers"
    assert kb.workspace_id != other_workspace.pk and kb.language == "english"
    event = AuditEvent.objects.get(action="update", resource_id=str(kb.pk))
    assert event.details == {"fields": ["name"]}


def test_kb_change_form_shows_service_validation_errors(admin_client_, kb):
    url = reverse("admin:kb_knowledgebase_change", args=[kb.pk])
    response = admin_client_.post(url, _kb_form(kb, name="   ", context_settings="[1, 2]"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "name" in errors and errors["context_settings"] == ["must be an object"]
    kb.refresh_from_db()
    assert kb.name == "Product docs" and not _audited("update", kb)


def test_kb_added_in_the_admin_goes_through_kb_create(admin_client_, workspace):
    url = reverse("admin:kb_knowledgebase_add")
    data = {
        "workspace": str(workspace.pk), "name": "From admin", "description": "", "context_settings": "{}",
        "chunking_config": json.dumps({"strategy": "recursive", "chunk_size": 10**9}),
        "embedding_config": json.dumps({"provider": "openai", "model": "text-embedding-3-small"}),
        "vector_store_config": json.dumps({"distance_metric": "manhattan"}),
    }  # fmt: skip
    refused = admin_client_.post(url, data)
    assert refused.status_code == 200 and not KnowledgeBase.objects.filter(name="From admin").exists()
    errors = refused.context["adminform"].form.errors
    assert set(errors) == {"chunking_config", "embedding_config", "vector_store_config"}
    assert errors["embedding_config"][0].startswith("provider: only self-hosted")

    data.update(
        chunking_config=json.dumps({"strategy": "recursive", "chunk_size": 500, "chunk_overlap": 50}),
        embedding_config=json.dumps({"model": "all-MiniLM-L6-v2"}),
        vector_store_config=json.dumps({"distance_metric": "dot"}),
    )
    assert admin_client_.post(url, data).status_code == 302
    kb = KnowledgeBase.objects.get(name="From admin")
    assert kb.chunking_config["chunk_size"] == 500 and kb.embedding_config["dimensions"] == 384
    assert kb.vector_store_config == {"provider": "pgvector", "distance_metric": "dot", "enable_hybrid_search": True}
    assert kb.created_by.username == "root" and _audited("create", kb)


def test_document_change_form_cannot_move_the_document(admin_client_, kb, stored_document):
    url = reverse("admin:kb_document_change", args=[stored_document.pk])
    page = admin_client_.get(url)
    assert page.status_code == 200
    assert 'name="kb"' not in page.content.decode() and 'name="stored_file"' not in page.content.decode()
    other = KnowledgeBase.objects.create(workspace=kb.workspace, name="Elsewhere")
    assert admin_client_.post(url, {"kb": str(other.pk), "name": "moved"}).status_code == 403
    stored_document.refresh_from_db()
    assert stored_document.kb_id == kb.pk and stored_document.name == "Warranty"
    assert admin_client_.get(reverse("admin:kb_document_add")).status_code == 403


def test_pipeline_and_draft_rows_cannot_be_added_or_edited(admin_client_, documents, draft, text_source):
    for name in ("kb_chunk", "kb_embeddingcache", "drafts_draftsource", "drafts_kbdraft"):
        assert admin_client_.get(reverse(f"admin:{name}_add")).status_code == 403, name
    chunk = documents["ready"].chunks.first()
    assert admin_client_.post(reverse("admin:kb_chunk_delete", args=[chunk.pk]), {"post": "yes"}).status_code == 403
    assert Chunk.objects.filter(pk=chunk.pk).exists()
    source_url = reverse("admin:drafts_draftsource_change", args=[text_source.pk])
    assert admin_client_.post(source_url, {"name": "forged", "status": "completed"}).status_code == 403
    text_source.refresh_from_db()
    assert text_source.name == "Refund policy"


def test_draft_change_form_edits_name_only(admin_client_, draft, text_source, kb):
    url = reverse("admin:drafts_kbdraft_change", args=[draft.pk])
    page = admin_client_.get(url).content.decode()
    for field in ("workspace", "target_kb", "chunking_config", "created_by"):
        assert f'name="{field}"' not in page, field
    inline = {f"sources-{k}": v for k, v in {"TOTAL_FORMS": "1", "INITIAL_FORMS": "1", "MIN_NUM_FORMS": "0",
              "MAX_NUM_FORMS": "1000", "0-id": str(text_source.pk), "0-draft": str(draft.pk)}.items()}  # fmt: skip
    original = draft.chunking_config
    forged = {"target_kb": str(kb.pk), "chunking_config": json.dumps({**original, "chunk_size": 50})}
    assert admin_client_.post(url, {"name": "  ", "description": "", **inline}).status_code == 200
    response = admin_client_.post(url, {"name": "Renamed draft", "description": "d", **forged, **inline})
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.name, draft.description) == ("Renamed draft", "d")
    assert draft.target_kb_id is None and draft.chunking_config == original
    assert draft.sources.count() == 1


def test_reprocess_action_reports_documents_a_live_worker_is_on(admin_client_, kb, documents, no_enqueue):
    busy = Document.objects.create(
        kb=kb, source_type="text_input", name="busy", status="embedding", attempts=1, heartbeat_at=timezone.now()
    )
    response = _action(admin_client_, "kb_document", "reprocess", [documents["failed"].pk, busy.pk])
    busy.refresh_from_db()
    assert busy.status == "embedding" and no_enqueue == [("document", str(documents["failed"].pk))]
    [message] = list(get_messages(response.wsgi_request))
    assert message.level == messages.WARNING
    assert message.message.startswith("1 queued, 1 refused: “busy” is being processed right now")
