"""The profile page: name and email, password, two-factor authentication, sessions, API keys, a download of
everything the account owns (pages.user_export) and "Delete my account" (tenants.erasure)."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.contrib import messages
from django.contrib.auth import get_user_model, logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from privexbot.errors import ServiceError
from privexbot.forms import attach_errors
from tenants.erasure import erasure_password_check, user_erase
from tenants.identity import services
from tenants.identity.forms import ProfileForm
from tenants.identity.forms_erasure import EraseAccountForm
from tenants.identity.selectors import organizations_requiring_mfa


def _profile_context(request, *, form=None, erase_form=None) -> dict:
    types = set(Authenticator.objects.filter(user=request.user).values_list("type", flat=True))
    return {
        "form": form or ProfileForm(instance=get_user_model().objects.get(pk=request.user.pk)),
        "erase_form": erase_form or EraseAccountForm(),
        "has_totp": Authenticator.Type.TOTP in types,
        "has_recovery_codes": Authenticator.Type.RECOVERY_CODES in types,
        "mfa_required_by": list(organizations_requiring_mfa(user=request.user)),
    }


@login_required
def profile(request):
    # The form gets its own copy: validating a ModelForm writes into its instance, and the service compares
    # the account as it was with the new values.
    form = ProfileForm(request.POST or None, instance=get_user_model().objects.get(pk=request.user.pk))
    if request.method == "POST" and form.is_valid():
        services.profile_update(user=request.user, data=form.cleaned_data, request=request)
        messages.success(request, "Profile saved.")
        return redirect("profile")
    return render(request, "tenants/profile.html", _profile_context(request, form=form))


@login_required
@require_POST
def sign_out_everywhere(request):
    services.sign_out_everywhere(user=request.user, request=request)
    messages.success(request, "Every other session of your account has been signed out.")
    return redirect("profile")


@login_required
@require_POST
def erase_account(request):
    """ "Delete my account": the password again and the keep/delete choice; then the session ends."""
    form = EraseAccountForm(request.POST)
    if form.is_valid():
        try:
            erasure_password_check(user=request.user, password=form.cleaned_data["password"], request=request)
            user_erase(user=request.user, actor=request.user, content=form.cleaned_data["content"], request=request)
        except ValidationError as exc:
            attach_errors(form, exc)
        except (ServiceError, PermissionDenied) as refused:
            form.add_error(None, getattr(refused, "message", None) or str(refused))
        else:
            logout(request)
            messages.success(request, "Your account has been erased. Goodbye.")
            return redirect("login")
    return render(request, "tenants/profile.html", _profile_context(request, erase_form=form), status=400)
