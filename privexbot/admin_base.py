"""What the admin classes of every app share: forms that run the services' validators, and deletes that go
through the app's delete service (files, grants and audit, as through every other door)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction

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


class ViewOnly:
    """Rows that only the pipeline or the services write: readable in the admin, never added or edited there."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
