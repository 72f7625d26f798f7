"""Erasure of a user (tenants.erasure): the account dies, its personal data goes, the row stays as a tombstone the
audit log keeps pointing at (shown as the pseudonym), and what the user created stays or goes by an explicit
choice. Refusals change nothing. Doors: the profile page, the User admin, `manage.py erase_user`, the API."""

import io
import json
import uuid

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from axes.models import AccessAttempt
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from drafts.models import DraftSource, KBDraft
from drafts.services import draft_create, draft_source_add_text
from kb.models import KnowledgeBase
from kb.services import document_create_from_text, kb_create
from kb.sharing import kb_share
from privexbot.audit.chain import chain_verify
from privexbot.audit.pseudonyms import pseudonym_for
from privexbot.errors import Conflict
from privexbot.models import AuditEvent, DeletionReceipt
from privexbot.storage import get_storage
from tenants.erasure import user_erase
from tenants.models import ApiToken, Invitation, Membership, Role, UserSecurity, Workspace
from tenants.tokens import api_token_create
from tests.conftest import PASSWORD, make_user
from tests.tenants.identity_helpers import fresh_ip, post_login

NAME, EMAIL = "zoe.quill", "zoe.quill@example.com"
TEXT = "The greenhouse log lists the orchid watering days and the heater checks of each week. " * 8


@pytest.fixture(autouse=True)
def fresh_throttles(isolated_throttles, settings):
    """Rate-limit windows of this test only (every test client shares one address and the Redis server). Every
    test fails one login as NAME: allauth's per-username window (in Redis, so it outlives each test) would soon
    refuse the attempt before it is audited, so it is widened here; axes' lockout (in the database) is per test."""
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "1000/900s/ip,1000/900s/key"}
    yield isolated_throttles


@pytest.fixture
def zoe(workspace, owner, kb, no_enqueue):
    """An editor of the workspace with everything an account accumulates: a KB and a draft she created (with
    stored files), a key, an authenticator, an email address, a session, a failed login, a grant on a KB of
    another workspace, invitations to her address and from her, audit rows where she acted."""
    user = make_user(NAME)
    User = get_user_model()
    User.objects.filter(pk=user.pk).update(first_name="Zoe", last_name="Quill", email=EMAIL)
    user.refresh_from_db()
    Membership.objects.create(user=user, workspace=workspace, role=Role.EDITOR)
    own_kb = kb_create(workspace=workspace, user=user, name="Greenhouse")
    document = document_create_from_text(kb=own_kb, user=user, title="Orchids", content=f"{TEXT} {uuid.uuid4()}")
    draft = draft_create(workspace=workspace, user=user, name="Zoe's draft")
    source = draft_source_add_text(draft=draft, user=user, title="Heater", content=f"{TEXT} {uuid.uuid4()}")
    _, token = api_token_create(user=user, name="zoe-bot", scopes=["admin"])
    Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={"secret": "JBSWY3DPEHPK3PXP"})
    EmailAddress.objects.create(user=user, email=EMAIL, verified=True, primary=True)
    UserSecurity.objects.create(user=user)
    assert post_login(Client(), NAME, "wrong password").status_code != 302  # axes remembers the attempt
    browser = Client()
    browser.force_login(user)
    sales = Workspace.objects.create(organization=workspace.organization, name="Sales")
    Membership.objects.create(user=owner, workspace=sales, role=Role.OWNER)
    sales_kb = KnowledgeBase.objects.create(workspace=sales, name="Sales KB", created_by=owner)
    kb_share(user=owner, kb_id=sales_kb.pk, identifier=NAME, level="read")
    invite = {"token_hash": uuid.uuid4().hex, "expires_at": "2099-01-01T00:00:00Z"}
    to_her = Invitation.objects.create(workspace=sales, email=EMAIL.upper(), invited_by=owner, **invite)
    invite["token_hash"] = uuid.uuid4().hex
    from_her = Invitation.objects.create(workspace=workspace, email="friend@example.com", invited_by=user, **invite)
    return {
        "user": user, "kb": own_kb, "document": document, "draft": draft, "source": source, "token": token,
        "browser": browser, "sales_kb": sales_kb, "to_her": to_her, "from_her": from_her,
        "files": [f for o in (document, source) for f in (o.stored_file, o.elements_file) if f],
    }  # fmt: skip


def _state(user) -> dict:
    """What a refused erasure must leave exactly as it was."""
    row = get_user_model().objects.get(pk=user.pk)
    return {
        "row": (row.username, row.email, row.first_name, row.is_active, row.has_usable_password()),
        "memberships": sorted(Membership.objects.filter(user=user).values_list("workspace_id", "role")),
        "tokens": sorted(ApiToken.objects.filter(user=user).values_list("pk", "revoked_at")),
        "mfa": Authenticator.objects.filter(user=user).count(),
        "emails": EmailAddress.objects.filter(user=user).count(),
        "kbs": sorted(KnowledgeBase.objects.values_list("pk", flat=True)),
        "drafts": sorted(KBDraft.objects.values_list("pk", flat=True)),
        "invitations": sorted(Invitation.objects.values_list("pk", "revoked_at")),
        "receipts": DeletionReceipt.objects.count(),
    }


def _erased_event(user) -> AuditEvent:
    return AuditEvent.objects.get(event_type="user", action="erase", resource_id=str(user.pk), success=True)


def test_keep_erases_the_account_and_leaves_a_tombstone_its_content_stays(zoe, workspace, owner, client):
    user = zoe["user"]
    columns = ("id", "user_id", "username", "row_hash")
    before = list(AuditEvent.objects.filter(user_id=user.pk).values_list(*columns))
    assert before and all(name == NAME for _, _, name, _ in before)
    last_before = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()

    result = user_erase(user=user, actor=user, content="keep")

    pseudonym = pseudonym_for(user.pk)
    assert result.pseudonym == pseudonym and pseudonym.startswith("erased-") and len(pseudonym) == 19
    row = get_user_model().objects.get(pk=user.pk)  # the tombstone: same id, nothing personal
    assert (row.username, row.email, row.first_name, row.last_name) == (pseudonym, "", "", "")
    assert not row.is_active and not row.has_usable_password() and row.last_login is None
    assert user.username == pseudonym  # the caller's copy says the same
    assert not Membership.objects.filter(user=user).exists()
    assert not ApiToken.objects.filter(user=user).exists()
    assert not Authenticator.objects.filter(user=user).exists() and not EmailAddress.objects.filter(user=user)
    assert not UserSecurity.objects.filter(user=user).exists()
    assert not AccessAttempt.objects.filter(username=NAME).exists()
    assert not Invitation.objects.filter(pk=zoe["to_her"].pk).exists()  # it held her address
    assert Invitation.objects.get(pk=zoe["from_her"].pk).revoked_at is not None
    from guardian.models import UserObjectPermission

    assert not UserObjectPermission.objects.filter(user=user).exists()
    # What she created stays with the workspace, pointing at the tombstone.
    assert KnowledgeBase.objects.get(pk=zoe["kb"].pk).created_by_id == user.pk
    assert KBDraft.objects.get(pk=zoe["draft"].pk).created_by_id == user.pk
    assert all(get_storage().exists(f) for f in zoe["files"])
    # Audit rows are not rewritten: same ids, same recorded name, same hashes, the chain intact.
    after = list(AuditEvent.objects.filter(id__in=[row[0] for row in before]).values_list(*columns))
    assert sorted(after) == sorted(before) and chain_verify().ok
    event = _erased_event(user)
    assert event.user_id == user.pk and event.username == pseudonym
    assert event.details["pseudonym"] == pseudonym and event.details["content"] == "keep"
    assert event.details["by"] == "self" and event.details["memberships"] == 1 and event.details["api_keys"] == 1
    assert event.details["knowledge_bases_kept"] == 1 and event.details["drafts_kept"] == 1
    text = json.dumps([e.details for e in AuditEvent.objects.filter(id__gt=last_before)])
    assert NAME not in text and EMAIL not in text.lower() and "Quill" not in text  # nothing the erasure wrote


def test_an_erased_account_cannot_log_in_or_use_its_session_or_key(zoe):
    user = zoe["user"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {zoe['token']}")
    assert api.get(reverse("api-workspaces")).status_code == 200
    user_erase(user=user, actor=user, content="keep")
    assert api.get(reverse("api-workspaces")).status_code == 401
    assert zoe["browser"].get(reverse("profile")).status_code == 302  # the session is gone: to the login page
    assert not [s for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(user.pk)]
    for name in (NAME, pseudonym_for(user.pk)):
        browser = Client()
        response = post_login(browser, name, PASSWORD, ip=fresh_ip())
        assert response.status_code == 200 and "_auth_user_id" not in browser.session  # the form again


def test_the_audit_page_and_export_show_the_pseudonym(zoe, workspace, owner, client, settings):
    from tenants.invitations import invitation_create

    settings.SITE_URL = "https://kb.example.com"  # the invitation email's link, outside a request
    user = zoe["user"]
    assert AuditEvent.objects.filter(user_id=user.pk, workspace_id=workspace.pk, username=NAME).exists()
    # An event that named her by address alone: the owner invited her again (before she was erased).
    invitation_create(user=owner, workspace_id=zoe["sales_kb"].workspace_id, email=EMAIL.title())
    invited = AuditEvent.objects.filter(event_type="invitation", action="create").latest("id")
    assert EMAIL.title() in json.dumps(invited.details)
    user_erase(user=user, actor=user, content="keep")
    erasure = _erased_event(user)
    assert NAME not in json.dumps(erasure.details) and EMAIL not in json.dumps(erasure.details).lower()
    client.force_login(owner)
    url = reverse("workspace_audit", args=[workspace.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert pseudonym_for(user.pk).encode() in page.content and NAME.encode() not in page.content
    for fmt in ("jsonl", "csv"):
        download = b"".join(client.get(url, {"download": "1", "format": fmt}).streaming_content).decode()
        assert pseudonym_for(user.pk) in download and NAME not in download, fmt
        sales = reverse("workspace_audit", args=[zoe["sales_kb"].workspace_id])
        download = b"".join(client.get(sales, {"download": "1", "format": fmt}).streaming_content).decode()
        assert EMAIL not in download.lower() and invited.resource_id in download, fmt  # the row, not her address
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    listing = client.get(reverse("admin:privexbot_auditevent_changelist")).content.decode()
    assert f'field-shown_username">{pseudonym_for(user.pk)}<' in listing
    # The failed login stored the name that was typed without an account id: shown as the pseudonym too.
    unlinked = AuditEvent.objects.filter(user_id=None, username=NAME).values_list("action", flat=True)
    assert list(unlinked) == ["login_failed"]
    assert f'field-shown_username">{NAME}<' not in listing
    event = AuditEvent.objects.filter(user_id=user.pk).first()
    detail = client.get(reverse("admin:privexbot_auditevent_change", args=[event.pk]))
    assert detail.status_code == 200 and pseudonym_for(user.pk).encode() in detail.content
    detail = client.get(reverse("admin:privexbot_auditevent_change", args=[invited.pk])).content.decode()
    assert pseudonym_for(user.pk) in detail and EMAIL not in detail.lower()
    # The stored rows still hold what they recorded (until AUDIT_RETENTION_DAYS purges them).
    assert AuditEvent.objects.filter(user_id=user.pk, username=NAME).exists()


def test_delete_removes_what_they_created_through_the_deletion_service(
    zoe, kb, owner, django_capture_on_commit_callbacks
):
    user = zoe["user"]
    with django_capture_on_commit_callbacks(execute=True):
        result = user_erase(user=user, actor=user, content="delete")
    assert not KnowledgeBase.objects.filter(pk=zoe["kb"].pk).exists()
    assert not KBDraft.objects.filter(pk=zoe["draft"].pk).exists() and not DraftSource.objects.filter(
        pk=zoe["source"].pk
    )
    assert not any(get_storage().exists(f) for f in zoe["files"])
    assert KnowledgeBase.objects.filter(pk=kb.pk).exists()  # the owner's KB is not hers
    assert KnowledgeBase.objects.filter(pk=zoe["sales_kb"].pk).exists()
    receipt = DeletionReceipt.objects.get(body__knowledge_base_id=str(zoe["kb"].pk))
    assert receipt.reason == "user_erased" and receipt.body["actor_user_id"] == user.pk
    event = _erased_event(user)
    assert event.details["content"] == "delete" and event.details["receipt_ids"] == [str(receipt.pk)]
    assert event.details["knowledge_bases_deleted"] == 1 and event.details["drafts_deleted"] == 1
    assert result.counts["receipt_ids"] == [str(receipt.pk)]


def test_a_workspace_they_are_alone_in_goes_whole_with_delete_and_stays_with_keep(db, no_enqueue):
    from tests.conftest import make_tenant

    for content, stays in (("keep", True), ("delete", False)):
        workspace, user = make_tenant(f"Solo {content}", username=f"solo-{content}")
        other = KnowledgeBase.objects.create(workspace=workspace, name="Inherited", created_by=None)
        user_erase(user=user, actor=user, content=content)
        assert Workspace.objects.filter(pk=workspace.pk).exists() is stays
        assert KnowledgeBase.objects.filter(pk=other.pk).exists() is stays
        assert _erased_event(user).details["workspaces_deleted"] == (0 if stays else 1)


def test_the_last_owner_of_a_shared_workspace_is_refused_and_nothing_changes(zoe, owner, workspace):
    before = _state(owner)
    with pytest.raises(Conflict) as refused:
        user_erase(user=owner, actor=owner, content="keep")
    assert refused.value.code == "last_owner" and workspace.name in refused.value.message
    assert _state(owner) == before
    # Handing over ownership first makes it possible.
    Membership.objects.filter(user=zoe["user"], workspace=workspace).update(role=Role.OWNER)
    Membership.objects.filter(user=owner, workspace__name="Sales").delete()
    Membership.objects.create(user=zoe["user"], workspace=Workspace.objects.get(name="Sales"), role=Role.OWNER)
    user_erase(user=owner, actor=owner, content="keep")
    assert not get_user_model().objects.get(pk=owner.pk).is_active


def test_delete_reaching_a_kb_under_legal_hold_is_refused_and_nothing_changes(zoe):
    user = zoe["user"]
    KnowledgeBase.objects.filter(pk=zoe["kb"].pk).update(legal_hold=True, legal_hold_reason="audit")
    before = _state(user)
    with pytest.raises(Conflict) as refused:
        user_erase(user=user, actor=user, content="delete")
    assert refused.value.code == "legal_hold" and "Greenhouse" in refused.value.message
    assert _state(user) == before and all(get_storage().exists(f) for f in zoe["files"])
    user_erase(user=user, actor=user, content="keep")  # keeping her content is still possible
    assert KnowledgeBase.objects.filter(pk=zoe["kb"].pk).exists()


def test_only_the_user_or_a_superuser_may_erase(zoe, owner, outsider):
    user = zoe["user"]
    before = _state(user)
    for actor in (owner, outsider):  # an owner of her workspace is not enough
        with pytest.raises(PermissionDenied):
            user_erase(user=user, actor=actor, content="keep")
    assert _state(user) == before
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    user_erase(user=user, actor=root, content="keep")
    event = _erased_event(user)
    assert event.username == "root" and event.details["by"] == "superuser"
    with pytest.raises(Conflict, match="already"):
        user_erase(user=get_user_model().objects.get(pk=user.pk), actor=root, content="keep")
    with pytest.raises(Exception, match="keep or delete"):
        user_erase(user=outsider, actor=outsider, content="maybe")


# ---------------------------------------------------------------- doors


def test_profile_page_erases_after_the_password_and_the_choice_then_logs_out(zoe):
    user, browser = zoe["user"], zoe["browser"]
    page = browser.get(reverse("profile"))
    assert (
        b"Delete my account" in page.content and b'value="keep"' in page.content and b'value="delete"' in page.content
    )
    url = reverse("erase-account")
    wrong = browser.post(url, {"password": "not it", "content": "keep", "confirm": "on"}, REMOTE_ADDR=fresh_ip())
    assert wrong.status_code == 400 and b"password is not right" in wrong.content
    assert browser.post(url, {"password": PASSWORD, "confirm": "on"}).status_code == 400  # no choice made
    assert get_user_model().objects.get(pk=user.pk).is_active
    done = browser.post(url, {"password": PASSWORD, "content": "keep", "confirm": "on"}, REMOTE_ADDR=fresh_ip())
    assert done.status_code == 302 and done["Location"] == reverse("login")
    assert "_auth_user_id" not in browser.session
    assert get_user_model().objects.get(pk=user.pk).username == pseudonym_for(user.pk)
    assert _erased_event(user).details["door"] == "web"


def test_user_admin_erases_after_a_confirmation_page_with_the_choice(zoe, client):
    user = zoe["user"]
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    url = reverse("admin:auth_user_changelist")
    data = {"action": "erase_users", admin.helpers.ACTION_CHECKBOX_NAME: [str(user.pk)]}
    confirm = client.post(url, data)
    assert confirm.status_code == 200 and b"cannot be undone" in confirm.content and NAME.encode() in confirm.content
    assert get_user_model().objects.get(pk=user.pk).is_active  # the page alone changes nothing
    done = client.post(url, {**data, "content": "delete", "confirm": "Erase"})
    assert done.status_code == 302
    assert get_user_model().objects.get(pk=user.pk).username == pseudonym_for(user.pk)
    assert not KnowledgeBase.objects.filter(pk=zoe["kb"].pk).exists()
    event = _erased_event(user)
    assert event.details["door"] == "admin" and event.details["content"] == "delete"
    # A hard delete is not offered: the tombstone must stay.
    assert client.get(reverse("admin:auth_user_delete", args=[user.pk])).status_code == 403


def test_user_admin_refusal_erases_nobody(zoe, owner, client):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    url = reverse("admin:auth_user_changelist")
    ids = [str(zoe["user"].pk), str(owner.pk)]  # the owner is the last owner of a shared workspace
    response = client.post(url, {"action": "erase_users", admin.helpers.ACTION_CHECKBOX_NAME: ids,
                                 "content": "keep", "confirm": "Erase"})  # fmt: skip
    assert response.status_code == 302
    shown = [str(m) for m in client.get(response["Location"]).context["messages"]]
    assert any("Nobody was erased" in m and "last owner" in m for m in shown), shown
    assert get_user_model().objects.filter(pk__in=ids, is_active=True).count() == 2


def test_erase_user_command(zoe, owner):
    with pytest.raises(CommandError, match="last owner"):  # Zoe still uses the workspace
        call_command("erase_user", owner.username, "--content", "delete")
    out = io.StringIO()
    call_command("erase_user", NAME, "--content", "keep", stdout=out)
    assert pseudonym_for(zoe["user"].pk) in out.getvalue()
    assert _erased_event(zoe["user"]).details["by"] == "operator"
    with pytest.raises(CommandError, match="no user"):
        call_command("erase_user", "nobody", "--content", "keep")


def test_api_erase_needs_the_password_and_an_admin_key(zoe):
    user = zoe["user"]
    _, read_key = api_token_create(user=user, name="chatbot", scopes=["read"])
    api = APIClient()
    url = reverse("api-me-erase")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    assert api.post(url, {"password": PASSWORD, "content": "keep"}, format="json").status_code == 403
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {zoe['token']}")
    wrong = api.post(url, {"password": "guess", "content": "keep"}, format="json", REMOTE_ADDR=fresh_ip())
    assert wrong.status_code == 400 and "password" in wrong.json()["error"]["details"]
    assert api.post(url, {"password": PASSWORD}, format="json").status_code == 400
    assert get_user_model().objects.get(pk=user.pk).is_active
    done = api.post(url, {"password": PASSWORD, "content": "keep"}, format="json", REMOTE_ADDR=fresh_ip())
    assert done.status_code == 200, done.content
    assert done.json()["pseudonym"] == pseudonym_for(user.pk)
    assert api.get(reverse("api-workspaces")).status_code == 401  # the key died with the account
