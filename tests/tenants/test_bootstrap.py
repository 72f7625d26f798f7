from io import StringIO

from django.contrib.auth import get_user_model
from django.core.management import call_command

from tenants.models import Membership, Organization, Workspace


def test_bootstrap_is_idempotent_and_prints_how_to_log_in(db, client):
    out = StringIO()
    call_command("bootstrap", "--password", "first-password-123", stdout=out)
    assert "Created admin user 'admin'" in out.getvalue()
    assert "http://127.0.0.1:8000/login/" in out.getvalue()
    again = StringIO()
    call_command("bootstrap", "--password", "other", stdout=again)
    assert "already exists" in again.getvalue()
    assert Organization.objects.count() == Workspace.objects.count() == Membership.objects.count() == 1
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("first-password-123")
    assert Membership.objects.get().role == "owner"
    assert client.login(username="admin", password="first-password-123")
