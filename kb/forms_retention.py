"""Forms of the retention card on the KB settings page; the rules are kb.retention's and kb.legal_hold's."""

from __future__ import annotations

from django import forms

from kb.legal_hold import REASON_MAX
from privexbot.forms import Form
from tenants.forms_retention import RetentionPolicyForm


class KBRetentionForm(RetentionPolicyForm):
    retention_inherit = forms.TypedChoiceField(
        label="Policy",
        choices=[("1", "Follow the workspace's policy"), ("0", "This knowledge base's own policy (below)")],
        coerce=lambda value: value == "1", widget=forms.RadioSelect, initial="1",
    )  # fmt: skip

    field_order = ["retention_inherit", "retention_days", "retention_basis"]

    @classmethod
    def for_kb(cls, kb, data=None):
        initial = {"retention_inherit": "1" if kb.retention_inherit else "0", "retention_days": kb.retention_days,
                   "retention_basis": kb.retention_basis}  # fmt: skip
        return cls(data, initial=initial)


class LegalHoldForm(Form):
    reason = forms.CharField(
        label="Reason for the hold", max_length=REASON_MAX, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded in the audit log, with who set the hold and when.",
    )  # fmt: skip
