"""The retention policy form, for a workspace (tenants) and, with its extra choice, a knowledge base (kb)."""

from __future__ import annotations

from django import forms

from privexbot.forms import Form
from tenants.models import RETENTION_DAYS_MAX, RETENTION_DAYS_MIN, RetentionBasis


class RetentionPolicyForm(Form):
    retention_days = forms.IntegerField(
        label="Delete documents after (days)", required=False, min_value=RETENTION_DAYS_MIN,
        max_value=RETENTION_DAYS_MAX, help_text="Empty: keep documents forever.",
    )  # fmt: skip
    retention_basis = forms.ChoiceField(
        label="Counted from", choices=RetentionBasis.choices, initial=RetentionBasis.UPLOADED
    )
