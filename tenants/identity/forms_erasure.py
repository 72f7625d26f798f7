"""The profile page's "Delete my account" form: the password again, and the explicit choice of what happens to
what the account created (tenants.erasure)."""

from django import forms

from privexbot.forms import Form

CONTENT_CHOICES = [
    ("keep", "Keep what I created (knowledge bases, drafts) with its workspaces"),
    ("delete", "Delete what I created, with deletion receipts"),
]


class EraseAccountForm(Form):
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}), label="Your password"
    )
    content = forms.ChoiceField(choices=CONTENT_CHOICES, widget=forms.RadioSelect, label="What you created")
    confirm = forms.BooleanField(label="I understand that this cannot be undone")
