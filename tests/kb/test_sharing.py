"""Sharing one KB beyond the workspace roles (django-guardian grants): who may share, with whom, what the grant
gives, revoking, the audit trail, and the sharing page."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.urls import reverse

from kb.selectors import kb_get_for_user
from kb.sharing import kb_grants, kb_share, kb_unshare
from privexbot.models import AuditEvent
from tenants.models import Membership, Perm, Role, Workspace
from tests.conftest import make_user


@pytest.fixture
def colleague(org):
    """A user of the same organization, in another workspace: cannot see the Support KB by role."""
    sales = Workspace.objects.create(organization=org, name="Sales")
    user = make_user("colleague")
    Membership.objects.create(user=user, workspace=sales, role=Role.VIEWER)
    return user


def test_owner_shares_read_then_update_and_revokes_all_audited(kb, owner, colleague):
    with pytest.raises(Http404):
        kb_get_for_user(user=colleague, kb_id=kb.pk)
    kb_share(user=owner, kb_id=kb.pk, identifier="colleague@example.com", level="read")
    assert kb_get_for_user(user=colleague, kb_id=kb.pk) == kb
    with pytest.raises(PermissionDenied):  # visible now, but read only
        kb_get_for_user(user=colleague, kb_id=kb.pk, perm=Perm.KB_UPDATE)
    granted = AuditEvent.objects.get(event_type="kb_share", action="grant")
    assert granted.details["before"] is None and granted.details["after"] == ["kb_read"]
    assert granted.resource_id == str(kb.pk) and granted.user == owner

    kb_share(user=owner, kb_id=kb.pk, identifier="colleague", level="update")
    assert kb_get_for_user(user=colleague, kb_id=kb.pk, perm=Perm.KB_UPDATE) == kb
    upgrade = AuditEvent.objects.filter(event_type="kb_share", action="grant").latest("timestamp")
    assert upgrade.details["before"] == ["kb_read"] and upgrade.details["after"] == ["kb_read", "kb_update"]
    assert [(g["user"].username, g["level"]) for g in kb_grants(kb=kb)] == [("colleague", "update")]

    kb_unshare(user=owner, kb_id=kb.pk, user_id=colleague.pk)
    with pytest.raises(Http404):
        kb_get_for_user(user=colleague, kb_id=kb.pk)
    revoked = AuditEvent.objects.get(event_type="kb_share", action="revoke")
    assert revoked.details["before"] == ["kb_read", "kb_update"] and revoked.details["after"] is None


def test_only_users_of_the_organization(kb, owner, outsider):
    loner = make_user("loner")  # in no workspace at all
    for who in ("outsider", "outsider@example.com", "loner", "nobody"):
        with pytest.raises(ValidationError) as info:
            kb_share(user=owner, kb_id=kb.pk, identifier=who, level="read")
        assert "No user of this organization" in str(info.value)  # the same answer: no probing for accounts
    assert kb_grants(kb=kb) == [] and loner.pk


def test_who_may_share(kb, member, viewer, outsider, colleague):
    for user in (member, viewer):  # they see the KB, but do not manage the workspace
        with pytest.raises(PermissionDenied):
            kb_share(user=user, kb_id=kb.pk, identifier="colleague", level="read")
    with pytest.raises(Http404):
        kb_share(user=outsider, kb_id=kb.pk, identifier="colleague", level="read")


def test_a_grant_holder_cannot_reshare_and_role_access_is_not_duplicated(kb, owner, viewer, colleague):
    kb_share(user=owner, kb_id=kb.pk, identifier="colleague", level="update")
    with pytest.raises(PermissionDenied):
        kb_share(user=colleague, kb_id=kb.pk, identifier="viewer", level="read")
    with pytest.raises(ValidationError) as info:
        kb_share(user=owner, kb_id=kb.pk, identifier="viewer", level="read")  # already reads as viewer
    assert "already has read access" in str(info.value)
    kb_share(user=owner, kb_id=kb.pk, identifier="viewer", level="update")  # beyond the role: allowed
    assert kb_get_for_user(user=viewer, kb_id=kb.pk, perm=Perm.KB_UPDATE) == kb


def test_sharing_page(client_for, kb, owner, member, colleague):
    url = reverse("kb:sharing", args=[kb.pk])
    assert (
        reverse("kb:sharing", args=[kb.pk])
        in client_for(owner).get(reverse("kb:settings", args=[kb.pk])).content.decode()
    )
    client = client_for(owner)
    assert b"Not shared with anyone" in client.get(url).content
    response = client.post(url, {"user": "colleague", "level": "read"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="grants"') and "colleague can read" in html
    bad = client.post(url, {"user": "nobody", "level": "read"})
    assert bad.status_code == 400 and b"No user of this organization" in bad.content
    revoke = client.post(reverse("kb:unshare", args=[kb.pk, colleague.pk]))
    assert revoke.status_code == 302 and kb_grants(kb=kb) == []
    assert client_for(member).get(url).status_code == 403
    assert (
        reverse("kb:sharing", args=[kb.pk])
        not in client_for(member).get(reverse("kb:settings", args=[kb.pk])).content.decode()
    )


def test_outsider_gets_404_on_the_sharing_page(client_for, kb, outsider):
    assert client_for(outsider).get(reverse("kb:sharing", args=[kb.pk])).status_code == 404
    assert client_for(outsider).post(reverse("kb:unshare", args=[kb.pk, outsider.pk])).status_code == 404
