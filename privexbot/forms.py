"""What every HTML form shares: labels without a trailing colon, and a service's errors shown on the form.

The rules live in the services; forms only parse input. A service's ValidationError is keyed like the API's
details ("chunking_config.chunk_size", "name"), and attach_errors puts each message on the field it names.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError


def attach_errors(form: forms.Form, exc: ValidationError) -> None:
    """A key lands on the form field it names: the whole key, else its last part (a wizard field such as
    chunk_size), else its first part (an admin JSON field such as chunking_config, with the detail in front of
    the message); anything else becomes a non-field error."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for key, messages in exc.message_dict.items():
        first, _, detail = key.partition(".")
        last = key.rsplit(".", 1)[-1]
        for message in messages:
            if key in form.fields or last in form.fields:
                form.add_error(key if key in form.fields else last, message)
            elif first in form.fields:
                form.add_error(first, f"{detail}: {message}")
            else:
                form.add_error(None, f"{key}: {message}" if key not in ("__all__", "draft") else message)


class Form(forms.Form):
    """Labels without Django's trailing colon."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
