"""The access funnel: members see their workspace's KBs by role; outsiders get 404; shares are per object."""

import uuid

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from guardian.shortcuts import assign_perm

from kb.selectors import kb_get_for_user, kb_perms_for_user, kb_queryset_for_user
from tenants.models import Perm
from tenants.selectors import workspace_get_for_user, workspaces_for_user


def test_owner_and_member_see_the_kb(kb, owner, member, viewer):
    for user in (owner, member, viewer):
        assert kb_get_for_user(user=user, kb_id=kb.id) == kb


def test_outsider_gets_404_never_403(kb, outsider):
    for perm in (Perm.KB_READ, Perm.KB_UPDATE, Perm.KB_DELETE):
        with pytest.raises(Http404):
            kb_get_for_user(user=outsider, kb_id=kb.id, perm=perm)
    assert not kb_queryset_for_user(user=outsider).exists()
    with pytest.raises(Http404):
        workspace_get_for_user(user=outsider, workspace_id=kb.workspace_id)


def test_roles_map_to_permissions(kb, owner, member, viewer):
    assert kb_get_for_user(user=member, kb_id=kb.id, perm=Perm.KB_UPDATE) == kb
    with pytest.raises(PermissionDenied):
        kb_get_for_user(user=member, kb_id=kb.id, perm=Perm.KB_DELETE)
    with pytest.raises(PermissionDenied):
        kb_get_for_user(user=viewer, kb_id=kb.id, perm=Perm.KB_UPDATE)
    assert kb_get_for_user(user=owner, kb_id=kb.id, perm=Perm.KB_DELETE) == kb
    assert kb_perms_for_user(user=viewer, kb=kb) == {Perm.KB_READ}
    with pytest.raises(PermissionDenied):
        workspace_get_for_user(user=member, workspace_id=kb.workspace_id, perm=Perm.WORKSPACE_MANAGE)


def test_object_grant_shares_one_kb_only(kb, workspace, owner, outsider):
    from kb.models import KnowledgeBase

    other = KnowledgeBase.objects.create(workspace=workspace, name="Internal HR", created_by=owner)
    assign_perm("kb.kb_read", outsider, kb)
    assert kb_get_for_user(user=outsider, kb_id=kb.id) == kb
    assert list(kb_queryset_for_user(user=outsider)) == [kb]
    with pytest.raises(Http404):
        kb_get_for_user(user=outsider, kb_id=other.id)
    with pytest.raises(PermissionDenied):  # shared for reading only
        kb_get_for_user(user=outsider, kb_id=kb.id, perm=Perm.KB_UPDATE)
    assert kb_perms_for_user(user=outsider, kb=kb) == {Perm.KB_READ}


def test_superuser_is_not_a_tenant_skeleton_key(kb, django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    with pytest.raises(Http404):
        kb_get_for_user(user=root, kb_id=kb.id)


def test_malformed_and_unknown_ids_are_404(kb, owner):
    for bad in ("not-a-uuid", "", None, uuid.uuid4()):
        with pytest.raises(Http404):
            kb_get_for_user(user=owner, kb_id=bad)


def test_anonymous_sees_nothing(kb):
    from django.contrib.auth.models import AnonymousUser

    assert not kb_queryset_for_user(user=AnonymousUser()).exists()
    assert not workspaces_for_user(user=AnonymousUser()).exists()


def test_workspaces_carry_the_role(workspace, member, outsider):
    assert [(w.id, w.role) for w in workspaces_for_user(user=member)] == [(workspace.id, "editor")]
    assert workspace.id not in {w.id for w in workspaces_for_user(user=outsider)}
