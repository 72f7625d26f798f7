"""Writes the KB API needs beyond kb.services (update and delete of a knowledge base).
Lead: these belong in kb/services.py; they live here only because this change could not edit that module."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from kb.models import KnowledgeBase
from privexbot.audit import audit_record
from privexbot.storage import get_storage


def kb_update(
    *, kb: KnowledgeBase, user, name: str | None = None, description: str | None = None,
    context_settings: dict | None = None, request=None,
) -> KnowledgeBase:  # fmt: skip
    changes = {}
    if name is not None:
        name = name.strip()
        if not 1 <= len(name) <= 255:
            raise ValidationError({"name": ["must be 1 to 255 characters"]})
        changes["name"] = name
    if description is not None:
        if len(description) > 1000:
            raise ValidationError({"description": ["must be at most 1000 characters"]})
        changes["description"] = description
    if context_settings is not None:
        if not isinstance(context_settings, dict):
            raise ValidationError({"context_settings": ["must be an object"]})
        changes["context_settings"] = context_settings
    if not changes:
        return kb
    for field, value in changes.items():
        setattr(kb, field, value)
    kb.save(update_fields=[*changes, "updated_at"])
    audit_record(
        event_type="knowledge_base", action="update", user=user, request=request, workspace=kb.workspace,
        resource=kb, details={"fields": sorted(changes)},
    )  # fmt: skip
    return kb


@transaction.atomic
def kb_delete(*, kb: KnowledgeBase, user, request=None) -> None:
    """Delete the KB, its documents and chunks (cascade), its object grants and, after commit, its stored files."""
    from django.contrib.contenttypes.models import ContentType
    from guardian.models import GroupObjectPermission, UserObjectPermission

    files = [f for pair in kb.documents.values_list("stored_file", "elements_file") for f in pair if f]
    audit_record(
        event_type="knowledge_base", action="delete", user=user, request=request, workspace=kb.workspace,
        resource=kb, details={"name": kb.name, "documents": kb.documents.count(), "files_deleted": len(files)},
    )  # fmt: skip
    content_type = ContentType.objects.get_for_model(KnowledgeBase)
    for model in (UserObjectPermission, GroupObjectPermission):
        model.objects.filter(content_type=content_type, object_pk=str(kb.pk)).delete()
    kb.delete()
    storage = get_storage()
    transaction.on_commit(lambda: [storage.delete(f) for f in set(files)])
