"""Forms of the KB pages; writes go through kb.services like every other door."""

from __future__ import annotations

from django import forms

from kb.models import DuplicatePolicy, KnowledgeBase
from kb.search import MODES
from kb.search.selector import MAX_TOP_K
from kb.services import kb_delete, kb_update
from privexbot.forms import Form

MODE_LABELS = {"hybrid": "Hybrid (vector + keyword)", "vector": "Vector (meaning)", "keyword": "Keyword (exact words)"}


class SearchForm(Form):
    query = forms.CharField(max_length=1000, widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}))
    mode = forms.ChoiceField(choices=[(m, MODE_LABELS.get(m, m)) for m in MODES], initial="hybrid")
    top_k = forms.IntegerField(label="Results", min_value=1, max_value=MAX_TOP_K, initial=5)
    group_by = forms.ChoiceField(
        label="Results are", choices=[("chunk", "Chunks"), ("document", "Documents (best chunk of each)")],
        initial="chunk", required=False,  # left out (an older bookmark): chunks
    )  # fmt: skip


class KBSettingsForm(Form):
    name = forms.CharField(max_length=255)
    description = forms.CharField(max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 3}))
    duplicate_policy = forms.ChoiceField(
        label="A file added again under the same name",
        choices=DuplicatePolicy.choices,
        required=False,  # left out of a post: unchanged
        help_text="Applies to uploads from the wizard, the API and ingest. A replaced version leaves search only when "
        "its new version is ready.",
    )

    def save(self, *, kb: KnowledgeBase, user, request=None) -> KnowledgeBase:
        changes = {k: v for k, v in self.cleaned_data.items() if getattr(kb, k) != v}
        if not changes.get("duplicate_policy", True):
            del changes["duplicate_policy"]
        return kb_update(kb=kb, user=user, request=request, **changes)


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

    def delete(self, *, user, request=None) -> str:
        name = self.kb.name
        self.receipt = kb_delete(kb=self.kb, user=user, request=request)  # the view links to it
        return name
