"""The KB access funnel (kb.selectors.kb_get_for_user) answers in one query, with the same refusals as before:
another tenant's KB, an unknown or malformed id, or a KB outside the key's list is a 404; a readable KB without the
permission asked is a 403; roles, object grants to the user and to their groups all count, nothing else does."""

import uuid

import pytest
from django.contrib.auth.models import AnonymousUser, Group
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from guardian.shortcuts import assign_perm

from kb.models import KnowledgeBase
from kb.selectors import kb_get_for_user, kb_queryset_for_user
from tenants.models import ApiToken, Perm
from tenants.tokens import mark_user_with_token
from tests.conftest import make_user


def _queries(call) -> tuple[object, int]:
    """(result or raised exception, number of queries) of one funnel call."""
    with CaptureQueriesContext(connection) as captured:
        try:
            outcome = call()
        except (Http404, PermissionDenied) as exc:
            outcome = exc
    return outcome, len(captured)


@pytest.fixture(autouse=True)
def _content_type_cached(kb):
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.get_for_model(KnowledgeBase)  # what every process has after its first request


def test_one_query_for_every_answer(kb, owner, viewer, outsider):
    found, n = _queries(lambda: kb_get_for_user(user=owner, kb_id=kb.pk))
    assert found == kb and n == 1
    assert found.workspace.organization.name == "Acme"  # fetched in that same query
    refused, n = _queries(lambda: kb_get_for_user(user=viewer, kb_id=kb.pk, perm=Perm.KB_UPDATE))
    assert isinstance(refused, PermissionDenied) and n == 1  # 403: the same query told "readable, not allowed"
    hidden, n = _queries(lambda: kb_get_for_user(user=outsider, kb_id=kb.pk))
    assert isinstance(hidden, Http404) and n == 1
    hidden, n = _queries(lambda: kb_get_for_user(user=outsider, kb_id=kb.pk, perm=Perm.KB_DELETE))
    assert isinstance(hidden, Http404) and n == 1  # never a 403 that would confirm it exists


def test_no_query_when_nothing_can_be_allowed(kb, owner):
    anonymous, n = _queries(lambda: kb_get_for_user(user=AnonymousUser(), kb_id=kb.pk))
    assert isinstance(anonymous, Http404) and n == 0
    malformed, n = _queries(lambda: kb_get_for_user(user=owner, kb_id="not-a-uuid"))
    assert isinstance(malformed, Http404) and n == 0
    token = ApiToken(user=owner, kb_ids=[uuid.uuid4()])
    mark_user_with_token(owner, token)  # a key limited to another KB: this one does not exist for it
    limited, n = _queries(lambda: kb_get_for_user(user=owner, kb_id=kb.pk))
    assert isinstance(limited, Http404) and n == 0
    mark_user_with_token(owner, ApiToken(user=owner, kb_ids=[kb.pk]))
    assert kb_get_for_user(user=owner, kb_id=kb.pk) == kb


def test_roles_decide_per_permission(kb, owner, member, viewer):
    for perm in (Perm.KB_READ, Perm.KB_UPDATE, Perm.KB_DELETE):
        assert kb_get_for_user(user=owner, kb_id=kb.pk, perm=perm) == kb
    assert kb_get_for_user(user=member, kb_id=kb.pk, perm=Perm.KB_UPDATE) == kb
    with pytest.raises(PermissionDenied):
        kb_get_for_user(user=member, kb_id=kb.pk, perm=Perm.KB_DELETE)
    assert kb_get_for_user(user=viewer, kb_id=kb.pk) == kb
    with pytest.raises(PermissionDenied):
        kb_get_for_user(user=viewer, kb_id=kb.pk, perm=Perm.KB_UPDATE)
    with pytest.raises(Http404):
        kb_get_for_user(user=owner, kb_id=uuid.uuid4())


def test_object_grants_of_the_user_and_of_their_groups(kb, outsider):
    with pytest.raises(Http404):
        kb_get_for_user(user=outsider, kb_id=kb.pk)
    group = Group.objects.create(name="readers")
    outsider.groups.add(group)
    assign_perm("kb_read", group, kb)
    assert kb_get_for_user(user=outsider, kb_id=kb.pk) == kb
    with pytest.raises(PermissionDenied):
        kb_get_for_user(user=outsider, kb_id=kb.pk, perm=Perm.KB_UPDATE)
    assign_perm("kb_update", outsider, kb)
    assert kb_get_for_user(user=outsider, kb_id=kb.pk, perm=Perm.KB_UPDATE) == kb
    assert list(kb_queryset_for_user(user=outsider, perm=Perm.KB_UPDATE)) == [kb]


def test_a_grant_on_another_kb_or_of_another_user_gives_nothing(kb, workspace, owner, outsider):
    other = KnowledgeBase.objects.create(workspace=workspace, name="Other", created_by=owner)
    assign_perm("kb_read", outsider, other)
    assign_perm("kb_read", make_user("someone"), kb)
    with pytest.raises(Http404):
        kb_get_for_user(user=outsider, kb_id=kb.pk)
    assert list(kb_queryset_for_user(user=outsider)) == [other]


def test_a_superuser_without_a_role_sees_nothing(kb, django_user_model):
    root = django_user_model.objects.create_superuser(username="root", email="root@example.com", password="x")
    with pytest.raises(Http404):
        kb_get_for_user(user=root, kb_id=kb.pk)
    assert not kb_queryset_for_user(user=root).exists()


def test_an_update_grant_alone_allows_update_as_before(kb, outsider):
    """A grant of kb_update without kb_read (never made by kb.sharing, possible in the admin): the funnel asked
    for update answers as guardian's queryset did (allowed), and asked for read refuses."""
    assign_perm("kb_update", outsider, kb)
    assert kb_get_for_user(user=outsider, kb_id=kb.pk, perm=Perm.KB_UPDATE) == kb
    with pytest.raises(Http404):
        kb_get_for_user(user=outsider, kb_id=kb.pk)


def _reference(user, kb, perm) -> str:
    """The rule as it was written before the one-query funnel: roles through the membership, object grants through
    guardian's own get_objects_for_user; 'ok', '403' or '404'."""
    from guardian.shortcuts import get_objects_for_user

    from tenants.models import ROLE_PERMISSIONS, Membership

    def holds(p):
        if not user.is_authenticated:
            return False
        roles = [r for r, perms in ROLE_PERMISSIONS.items() if p in perms]
        if Membership.objects.filter(user=user, workspace_id=kb.workspace_id, role__in=roles).exists():
            return True
        shared = get_objects_for_user(
            user, "kb." + p.replace(":", "_"), klass=KnowledgeBase, with_superuser=False, accept_global_perms=False
        )
        return shared.filter(pk=kb.pk).exists()

    if holds(perm):
        return "ok"
    return "403" if holds(Perm.KB_READ) else "404"


def _outcome(call) -> str:
    try:
        call()
    except PermissionDenied:
        return "403"
    except Http404:
        return "404"
    return "ok"


def test_the_persona_matrix_matches_guardian_and_the_queryset(kb, owner, member, viewer, outsider, django_user_model):
    from tests.conftest import make_tenant

    other_ws, other_owner = make_tenant("Initech")
    other = KnowledgeBase.objects.create(workspace=other_ws, name="Initech docs", created_by=other_owner)
    reader, updater, grouped = make_user("reader"), make_user("updater"), make_user("grouped")
    assign_perm("kb_read", reader, kb)
    for codename in ("kb_read", "kb_update"):
        assign_perm(codename, updater, kb)
    team = Group.objects.create(name="team")
    grouped.groups.add(team)
    assign_perm("kb_read", team, other)
    root = django_user_model.objects.create_superuser(username="root", email="root@example.com", password="x")
    personas = [owner, member, viewer, outsider, reader, updater, grouped, root, other_owner, AnonymousUser()]
    seen = set()
    for user in personas:
        for target in (kb, other):
            for perm in (Perm.KB_READ, Perm.KB_UPDATE, Perm.KB_DELETE):
                expected = _reference(user, target, perm)
                got = _outcome(lambda u=user, t=target, p=perm: kb_get_for_user(user=u, kb_id=t.pk, perm=p))
                in_queryset = kb_queryset_for_user(user=user, perm=perm).filter(pk=target.pk).exists()
                assert got == expected, (getattr(user, "username", "anonymous"), target.name, perm)
                assert in_queryset == (expected == "ok"), (getattr(user, "username", "anonymous"), target.name, perm)
                seen.add(expected)
    assert seen == {"ok", "403", "404"}  # the matrix reaches every answer
