"""Bootstrap of the first organization, workspace and owner. (Members: tenants.members; invitations:
tenants.invitations; API keys: tenants.tokens.)"""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.db import transaction

from tenants.models import Membership, Organization, Role, Workspace


@transaction.atomic
def bootstrap(*, org_name: str, workspace_name: str, username: str, email: str, password: str | None):
    """Idempotent: creates what is missing and returns (user, workspace, created_password_or_None)."""
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    new_password = None
    if user is None:
        new_password = password or secrets.token_urlsafe(12)
        user = User.objects.create_superuser(username=username, email=email, password=new_password)
    organization = Organization.objects.filter(name=org_name).first() or Organization.objects.create(name=org_name)
    workspace = Workspace.objects.filter(organization=organization, name=workspace_name).first()
    if workspace is None:
        workspace = Workspace.objects.create(organization=organization, name=workspace_name)
    Membership.objects.get_or_create(user=user, workspace=workspace, defaults={"role": Role.OWNER})
    return user, workspace, new_password
