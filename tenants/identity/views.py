"""The profile page: name and email, password, two-factor authentication, sessions, API keys."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from tenants.identity import services
from tenants.identity.forms import ProfileForm
from tenants.identity.selectors import organizations_requiring_mfa


@login_required
def profile(request):
    # The form gets its own copy: validating a ModelForm writes into its instance, and the service compares
    # the account as it was with the new values.
    form = ProfileForm(request.POST or None, instance=get_user_model().objects.get(pk=request.user.pk))
    if request.method == "POST" and form.is_valid():
        services.profile_update(user=request.user, data=form.cleaned_data, request=request)
        messages.success(request, "Profile saved.")
        return redirect("profile")
    types = set(Authenticator.objects.filter(user=request.user).values_list("type", flat=True))
    context = {
        "form": form,
        "has_totp": Authenticator.Type.TOTP in types,
        "has_recovery_codes": Authenticator.Type.RECOVERY_CODES in types,
        "mfa_required_by": list(organizations_requiring_mfa(user=request.user)),
    }
    return render(request, "tenants/profile.html", context)


@login_required
@require_POST
def sign_out_everywhere(request):
    services.sign_out_everywhere(user=request.user, request=request)
    messages.success(request, "Every other session of your account has been signed out.")
    return redirect("profile")
