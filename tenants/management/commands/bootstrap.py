import secrets
from pathlib import Path

from django.core.management.base import BaseCommand

from privexbot.audit import audit_record
from tenants.services import bootstrap


class Command(BaseCommand):
    help = "Create an organization, a workspace and an admin user (idempotent) and print how to log in."

    def add_arguments(self, parser):
        parser.add_argument("--org", default="Default Organization")
        parser.add_argument("--workspace", default="Main")
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default="admin@example.com")
        parser.add_argument("--password", help="password for a NEW user (default: a random one, printed once)")
        parser.add_argument(
            "--password-file",
            help="read the new user's password from this file, or write a generated one there (mode 600)",
        )
        parser.add_argument("--url", default="http://127.0.0.1:8000/login/")

    def handle(self, *args, **opts):
        password_file = Path(opts["password_file"]) if opts["password_file"] else None
        if password_file and not opts["password"]:
            if not password_file.exists():
                password_file.parent.mkdir(parents=True, exist_ok=True)
                password_file.write_text(secrets.token_urlsafe(12))
                password_file.chmod(0o600)
            opts["password"] = password_file.read_text().strip()
        user, workspace, password = bootstrap(
            org_name=opts["org"],
            workspace_name=opts["workspace"],
            username=opts["username"],
            email=opts["email"],
            password=opts["password"],
        )
        # A superuser and an owner membership may have been created: a permission change, from a command.
        audit_record(
            event_type="system", action="bootstrap", user=user, workspace=workspace, resource=workspace,
            details={"created_user": password is not None, "door": "command"},
        )  # fmt: skip
        self.stdout.write(f"Organization: {workspace.organization.name}  Workspace: {workspace.name}")
        if password:
            self.stdout.write(self.style.SUCCESS(f"Created admin user {user.username!r} with password: {password}"))
        elif password_file:
            self.stdout.write(f"Admin user {user.username!r}; its password is in {password_file}")
        else:
            self.stdout.write(f"Admin user {user.username!r} already exists (password unchanged).")
        self.stdout.write(f"Log in at {opts['url']}")
