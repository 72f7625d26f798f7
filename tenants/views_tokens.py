"""The API key page: your keys, a new one (shown once), revoke and rotate. Every rule is the API's: the views
call tenants.tokens, and the KBs a key may be limited to come from kb's access funnel."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from privexbot.errors import ServiceError
from privexbot.forms import Form, attach_errors
from tenants.models import Scope
from tenants.selectors import parse_uuid
from tenants.tokens import api_token_create, api_token_revoke, api_token_rotate, readable_kb_choices

TEMPLATE = "tenants/api_keys.html"
SCOPE_HELP = {
    Scope.SEARCH: "search the knowledge bases, nothing else (what a chatbot needs)",
    Scope.READ: "also read knowledge bases, documents and chunks",
    Scope.WRITE: "also create, change and delete them",
    Scope.ADMIN: "also manage workspaces and members",
}


class ApiKeyForm(Form):
    name = forms.CharField(max_length=100, required=False, help_text="to recognise the key, e.g. “support bot”")
    scope = forms.ChoiceField(
        choices=[(s.value, f"{s.value}: {SCOPE_HELP[s]}") for s in Scope],
        initial=Scope.SEARCH, widget=forms.RadioSelect,
        help_text="never more than your role allows in each workspace",
    )  # fmt: skip
    kb_ids = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Limit to knowledge bases",
        help_text="none ticked: every knowledge base you can read, now and later",
    )  # fmt: skip

    def __init__(self, *args, kb_choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kb_ids"].choices = [(str(pk), label) for pk, label in kb_choices]
        max_days = settings.API_TOKEN_MAX_DAYS
        self.fields["expires_in_days"] = forms.IntegerField(
            min_value=1, max_value=max_days, initial=max_days, required=not settings.API_TOKEN_ALLOW_NEVER_EXPIRES,
            label="Expires in (days)", help_text=f"at most {max_days}",
        )  # fmt: skip
        if settings.API_TOKEN_ALLOW_NEVER_EXPIRES:
            self.fields["never_expires"] = forms.BooleanField(required=False, label="Never expires")

    def clean(self):
        data = super().clean()
        if not data.get("never_expires") and not data.get("expires_in_days") and "expires_in_days" not in self.errors:
            self.add_error("expires_in_days", "give a lifetime in days, or tick “Never expires”")
        return data

    def create(self, *, user, request):
        data = self.cleaned_data
        never = bool(data.get("never_expires"))
        return api_token_create(
            user=user, name=data["name"], scopes=[data["scope"]], kb_ids=data["kb_ids"],
            expires_in_days=None if never else data["expires_in_days"], never_expires=never, request=request,
        )  # fmt: skip


def _status(token, now) -> str:
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if token.expires_at and token.expires_at <= now else "active"


def _page(request, *, form, kb_choices, shown=None, status=200):
    labels = {pk: label for pk, label in kb_choices}
    now = timezone.now()
    keys = [
        {
            "token": t,
            "status": _status(t, now),
            "kbs": [labels.get(k, "a knowledge base you can no longer read") for k in t.kb_ids],
        }
        for t in request.user.api_tokens.all()
    ]
    context = {"form": form, "keys": keys, "shown": shown, "max_days": settings.API_TOKEN_MAX_DAYS}
    return render(request, TEMPLATE, context, status=status)


def _own_key(request, token_id):
    token = request.user.api_tokens.filter(pk=parse_uuid(token_id)).first()
    if token is None:  # another user's key does not exist for you
        raise Http404("API key not found")
    return token


@never_cache  # a new key's secret is in the page: no cache may keep it
@login_required
@require_http_methods(["GET", "POST"])
def api_keys(request):
    kb_choices = readable_kb_choices(request.user)
    form = ApiKeyForm(request.POST or None, kb_choices=kb_choices)
    shown = None
    if request.method == "POST" and form.is_valid():
        try:
            row, plaintext = form.create(user=request.user, request=request)
        except ValidationError as exc:
            attach_errors(form, exc)
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            shown = {"token": row, "plaintext": plaintext, "action": "created"}
            form = ApiKeyForm(kb_choices=kb_choices)
    return _page(request, form=form, kb_choices=kb_choices, shown=shown, status=400 if form.errors else 200)


@login_required
@require_POST
def api_key_revoke(request, token_id):
    token = api_token_revoke(token=_own_key(request, token_id), user=request.user, request=request)
    messages.success(request, f"The key {token.prefix}… was revoked, with every key it created.")
    return redirect("api_keys:list")


@never_cache
@login_required
@require_POST
def api_key_rotate(request, token_id):
    kb_choices = readable_kb_choices(request.user)
    form = ApiKeyForm(kb_choices=kb_choices)
    try:
        row, plaintext = api_token_rotate(token=_own_key(request, token_id), user=request.user, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("api_keys:list")
    shown = {"token": row, "plaintext": plaintext, "action": "rotated", "grace": settings.API_TOKEN_ROTATION_GRACE}
    return _page(request, form=form, kb_choices=kb_choices, shown=shown)
