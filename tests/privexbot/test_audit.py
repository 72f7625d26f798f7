import json

from django.conf import settings
from django.urls import reverse

from privexbot.models import AuditEvent
from tests.conftest import PASSWORD


def _log_lines():
    path = settings.AUDIT_LOG_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_login_logout_and_failed_login_are_recorded_in_table_and_jsonl(client, owner):
    before = len(_log_lines())
    bad = client.post(reverse("login"), {"username": "owner", "password": "wrong"}, HTTP_USER_AGENT="pytest-agent")
    assert bad.status_code == 200
    good = client.post(reverse("login"), {"username": "owner", "password": PASSWORD}, HTTP_USER_AGENT="pytest-agent")
    assert good.status_code == 302
    client.post(reverse("logout"))

    actions = list(AuditEvent.objects.order_by("id").values_list("action", "success", "username"))
    assert actions == [("login_failed", False, "owner"), ("login", True, "owner"), ("logout", True, "owner")]
    failed = AuditEvent.objects.get(action="login_failed")
    assert failed.ip_address == "127.0.0.1"
    assert failed.user_agent == "pytest-agent"
    assert "wrong" not in json.dumps(failed.details)  # the password is never logged

    lines = _log_lines()[before:]
    assert [line["action"] for line in lines] == ["login_failed", "login", "logout"]
    expected_keys = {
        "timestamp", "event_type", "user_id", "organization_id", "workspace_id", "resource_id",
        "action", "ip_address", "user_agent", "success", "details",
    }  # fmt: skip
    assert all(set(line) == expected_keys for line in lines)
    assert lines[1]["user_id"] == owner.pk and lines[1]["success"] is True


def test_audit_record_carries_workspace_and_organization(workspace, owner):
    from privexbot.audit import audit_record

    event = audit_record(event_type="document_access", action="read", user=owner, workspace=workspace, resource="r-1")
    assert event.workspace_id == workspace.id
    assert event.organization_id == workspace.organization_id
    assert event.resource_id == "r-1"


def test_audit_can_be_disabled(settings, owner):
    from privexbot.audit import audit_record

    settings.ENABLE_AUDIT_LOGGING = False
    assert audit_record(event_type="x", action="y", user=owner) is None
    assert not AuditEvent.objects.exists()
