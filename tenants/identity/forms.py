"""The login form (allauth's, with the field named `username`, as the login page always had it) and the profile form."""

from __future__ import annotations

from allauth.account.forms import LoginForm as AllauthLoginForm
from django import forms
from django.contrib.auth import get_user_model


class LoginForm(AllauthLoginForm):
    """Login is by username only (ACCOUNT_LOGIN_METHODS). allauth calls the field `login`; keeping the name
    `username` keeps every client of the form working (scripts, password managers, the tests) and is the
    field name axes reads from a POST (AXES_USERNAME_FORM_FIELD's default)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields.pop("login")
        field.widget.attrs.pop("placeholder", None)
        field.widget.attrs["autofocus"] = True
        self.fields = {"username": field, **self.fields}

    def clean(self):
        if "username" in self.cleaned_data:
            self.cleaned_data["login"] = self.cleaned_data["username"].strip()
        return super().clean()


class ProfileForm(forms.ModelForm):
    class Meta:
        model = get_user_model()
        fields = ["first_name", "last_name", "email"]

    def clean_email(self):
        email = self.cleaned_data["email"].strip()
        others = get_user_model().objects.filter(email__iexact=email).exclude(pk=self.instance.pk)
        if email and others.exists():
            # Password reset finds the account by its address: two accounts cannot share one.
            raise forms.ValidationError("Another account uses this email address.")
        return email
