"""Reads about a user's security state: one query for what every request needs to know."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from allauth.mfa.models import Authenticator
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Subquery

from tenants.models import Organization, UserSecurity

# Recovery codes alone are not a second factor: they back up one.
SECOND_FACTORS = [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]


@dataclass(frozen=True)
class SecurityState:
    sessions_valid_after: datetime | None
    mfa_required: bool  # a member of at least one organization that requires MFA
    has_mfa: bool

    @property
    def must_enrol(self) -> bool:
        return self.mfa_required and not self.has_mfa


def security_state(*, user_id) -> SecurityState:
    row = (
        get_user_model()
        .objects.filter(pk=user_id)
        .annotate(
            valid_after=Subquery(UserSecurity.objects.filter(user=OuterRef("pk")).values("sessions_valid_after")[:1]),
            mfa_required=Exists(
                Organization.objects.filter(mfa_required=True, workspaces__memberships__user=OuterRef("pk"))
            ),
            has_mfa=Exists(Authenticator.objects.filter(user=OuterRef("pk"), type__in=SECOND_FACTORS)),
        )
        .values("valid_after", "mfa_required", "has_mfa")
        .first()
    )
    if row is None:
        return SecurityState(None, False, False)
    return SecurityState(row["valid_after"], row["mfa_required"], row["has_mfa"])


def user_has_mfa(*, user) -> bool:
    return Authenticator.objects.filter(user=user, type__in=SECOND_FACTORS).exists()


def organizations_requiring_mfa(*, user):
    return Organization.objects.filter(mfa_required=True, workspaces__memberships__user=user).distinct()
