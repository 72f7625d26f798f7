"""Forms of the workspace pages: they only parse input; tenants.members and tenants.invitations hold the rules."""

from __future__ import annotations

from django import forms

from privexbot.forms import Form
from tenants.models import Role


class WorkspaceCreateForm(Form):
    organization = forms.ChoiceField()
    name = forms.CharField(max_length=255)

    def __init__(self, *args, organizations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].choices = [(str(o.pk), o.name) for o in organizations]


class WorkspaceRenameForm(Form):
    name = forms.CharField(max_length=255)


class InviteForm(Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)

    def __init__(self, *args, can_invite_owner: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not can_invite_owner:
            self.fields["role"].choices = [c for c in Role.choices if c[0] != Role.OWNER]


class SignupForm(Form):
    """A new account from an invitation; the email is the invitation's, the password rules are the project's."""

    username = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autocomplete": "username"}))
    password1 = forms.CharField(label="Password", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(
        label="Password (again)", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password1") != data.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return data
