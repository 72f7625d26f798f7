"""Identity writes an owner's pages and API call, and the user's own "sign out everywhere"."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from privexbot.audit import audit_record
from tenants.identity import sessions
from tenants.models import Membership, Organization, Role, UserSecurity


def _is_owner(*, user, organization) -> bool:
    return Membership.objects.filter(user=user, workspace__organization=organization, role=Role.OWNER).exists()


def _is_member(*, user, organization) -> bool:
    return Membership.objects.filter(user=user, workspace__organization=organization).exists()


def _check_owner(*, user, organization) -> None:
    """An outsider does not learn the organization exists (404); a member who is not an owner gets 403."""
    if not _is_member(user=user, organization=organization):
        raise Http404("organization not found")
    if not _is_owner(user=user, organization=organization):
        raise PermissionDenied("only an owner of the organization may do this")


def sessions_end_before(*, user, when=None) -> UserSecurity:
    """Every session of `user` that began before `when` (default: now) ends at its next request."""
    when = when or timezone.now()
    security, _ = UserSecurity.objects.get_or_create(user=user)
    security.sessions_valid_after = when
    security.save(update_fields=["sessions_valid_after"])
    return security


def sign_out_everywhere(*, user, request) -> None:
    """Ends every other session of the user. The current one goes on: it is stamped as beginning at the
    cut-off itself, which the check (`began before`) lets through."""
    security = sessions_end_before(user=user)
    if request is not None and hasattr(request, "session"):
        request.session[sessions.AUTH_AT] = security.sessions_valid_after.timestamp()
        request.session.cycle_key()  # the old session key, if it leaked, is not this session any more
    audit_record(event_type="authentication", action="sign_out_everywhere", user=user, request=request)


def organization_mfa_required_set(*, organization: Organization, required: bool, user, request=None):
    """Switch the organization's "MFA required" setting (owners only). Members without a second factor
    are sent to enrolment from their next request on (tenants.identity.middleware)."""
    _check_owner(user=user, organization=organization)
    before = organization.mfa_required
    if before == required:
        return organization
    organization.mfa_required = required
    organization.save(update_fields=["mfa_required"])
    audit_record(
        event_type="organization",
        action="mfa_required_set",
        user=user,
        request=request,
        organization=organization,
        resource=organization,
        details={"before": {"mfa_required": before}, "after": {"mfa_required": required}},
    )
    return organization


@transaction.atomic
def mfa_reset(*, actor, user, organization: Organization, request=None) -> int:
    """An owner removes another member's authenticators (TOTP, recovery codes, keys), e.g. after a lost
    phone; the member's sessions end, and the next login asks for enrolment again if the organization
    requires MFA. Returns how many authenticators were removed."""
    _check_owner(user=actor, organization=organization)
    if not _is_member(user=user, organization=organization):
        raise Http404("member not found")
    if user.pk == actor.pk:
        raise PermissionDenied("remove your own authenticators from your profile page")
    removed = list(Authenticator.objects.filter(user=user).values_list("type", flat=True))
    Authenticator.objects.filter(user=user).delete()
    sessions_end_before(user=user)
    audit_record(
        event_type="mfa",
        action="reset",
        user=actor,
        request=request,
        organization=organization,
        resource=user,
        resource_type="User",
        details={
            "member": user.get_username(),
            "before": {"authenticators": sorted(removed)},
            "after": {"authenticators": []},
        },
    )
    return len(removed)


def profile_update(*, user, data: dict, request=None):
    """Name and email of the user's own account; audited with before and after."""
    before = {field: getattr(user, field) for field in data}
    changed = {field: value for field, value in data.items() if before[field] != value}
    if not changed:
        return user
    for field, value in changed.items():
        setattr(user, field, value)
    user.save(update_fields=list(changed))
    audit_record(
        event_type="authentication",
        action="profile_update",
        user=user,
        request=request,
        details={"before": {f: before[f] for f in changed}, "after": changed},
    )
    return user
