"""Forms of the KB pages.

KBSettingsForm.save and KBDeleteForm.delete write through here only because kb.services has no kb_update /
kb_delete yet; they audit like a service and delete documents through kb.services.document_delete (which
removes the stored files). Move them to kb/services.py when the API needs them too."""

from __future__ import annotations

from django import forms
from django.db import transaction

from drafts.forms import Form
from kb.models import KnowledgeBase
from kb.search import MODES
from kb.search.selector import MAX_TOP_K
from kb.services import document_delete
from privexbot.audit import audit_record

MODE_LABELS = {"hybrid": "Hybrid (vector + keyword)", "vector": "Vector (meaning)", "keyword": "Keyword (exact words)"}


class SearchForm(Form):
    query = forms.CharField(max_length=1000, widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}))
    mode = forms.ChoiceField(choices=[(m, MODE_LABELS.get(m, m)) for m in MODES], initial="hybrid")
    top_k = forms.IntegerField(label="Results", min_value=1, max_value=MAX_TOP_K, initial=5)


class KBSettingsForm(Form):
    name = forms.CharField(max_length=255)
    description = forms.CharField(max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def save(self, *, kb: KnowledgeBase, user, request=None) -> KnowledgeBase:
        changes = {k: v for k, v in self.cleaned_data.items() if getattr(kb, k) != v}
        if changes:
            for field, value in changes.items():
                setattr(kb, field, value)
            kb.save(update_fields=[*changes, "updated_at"])
            audit_record(
                event_type="knowledge_base", action="update", user=user, request=request,
                workspace=kb.workspace, resource=kb, details={"fields": sorted(changes)},
            )  # fmt: skip
        return kb


class KBDeleteForm(Form):
    confirm_name = forms.CharField(label="Type the name of the knowledge base to confirm", max_length=255)

    def __init__(self, *args, kb: KnowledgeBase, **kwargs):
        super().__init__(*args, **kwargs)
        self.kb = kb

    def clean_confirm_name(self):
        value = self.cleaned_data["confirm_name"]
        if value.strip() != self.kb.name.strip():
            raise forms.ValidationError("The name does not match; nothing was deleted.")
        return value

    @transaction.atomic
    def delete(self, *, user, request=None) -> str:
        kb, name = self.kb, self.kb.name
        for document in kb.documents.all():
            document_delete(document=document, user=user, request=request)
        audit_record(
            event_type="knowledge_base", action="delete", user=user, request=request,
            workspace=kb.workspace, resource=kb, details={"name": name},
        )  # fmt: skip
        kb.delete()
        return name
