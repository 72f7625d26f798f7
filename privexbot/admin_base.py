"""What the admin classes of every app share: forms that run the services' validators, and deletes that go
through the app's delete service (files, grants and audit, as through every other door)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect

from privexbot.errors import ServiceError
from privexbot.forms import attach_errors


class ServiceValidatedForm(forms.ModelForm):
    """Runs the services' own validators in clean(), so the admin refuses what the API refuses, on the form;
    `validators` maps a field to the function that checks (and normalizes) it."""

    validators: dict = {}

    def clean(self):
        cleaned = super().clean()
        for field, validate in self.validators.items():
            if field in self.fields and field in cleaned:
                try:
                    cleaned[field] = validate(cleaned[field])
                except ValidationError as exc:
                    attach_errors(self, exc)
        return cleaned


def changed_values(form: forms.ModelForm, fields) -> dict:
    """The cleaned values that differ from what the object held (not form.changed_data: it compares raw input,
    so a name that only gained spaces, or a JSON field without its hidden initial, counts as changed)."""
    return {
        f: form.cleaned_data[f]
        for f in fields
        if f in form.cleaned_data and form.cleaned_data[f] != form.initial.get(f)
    }


class DeleteThroughService:
    """The delete page and the "delete selected" action both call `delete_one` (the app's delete service);
    the bulk action is one transaction, all or nothing. `delete_related`: what delete_one reads of each row."""

    delete_related: tuple[str, ...] = ()

    def delete_one(self, request, obj) -> None:
        raise NotImplementedError

    def delete_model(self, request, obj):
        self.delete_one(request, obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for obj in queryset.select_related(*self.delete_related):
            self.delete_one(request, obj)

    # A refusal by the service (a legal hold: 409) is a message on the page, not a server error; the
    # transaction around the delete has rolled back, so nothing of a bulk delete happened.
    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ServiceError as refused:
            self.message_user(request, f"Not deleted: {refused.message}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def response_action(self, request, queryset):
        try:
            return super().response_action(request, queryset)
        except ServiceError as refused:
            self.message_user(request, f"Nothing was deleted: {refused.message}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class ViewOnly:
    """Rows that only the pipeline or the services write: readable in the admin, never added or edited there."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def audit_admin_entry(entry) -> None:
    """One audit event per admin LogEntry (privexbot.signals): which model and object, which fields (their
    names, never the values or the object's text: a row's repr can be document content)."""
    import json

    from privexbot.audit import audit_record

    actions = {1: "add", 2: "change", 3: "delete"}  # LogEntry's ADDITION, CHANGE, DELETION
    try:
        messages = json.loads(entry.change_message or "[]")
    except ValueError:
        messages = []
    fields = sorted(
        {
            name
            for message in messages
            if isinstance(message, dict)
            for name in message.get("changed", {}).get("fields", [])
        }
    )
    content_type = entry.content_type
    audit_record(
        event_type="admin", action=actions.get(entry.action_flag, str(entry.action_flag)), user=entry.user,
        resource=str(entry.object_id or "")[:64],
        resource_type=f"{content_type.app_label}.{content_type.model}" if content_type else "",
        details={"fields": fields, "log_entry_id": entry.pk},
    )  # fmt: skip
