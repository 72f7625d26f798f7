"""Create a knowledge base from a portable archive (kb.portability; audited as a KB import)."""

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from kb.management.commands._common import get_user
from kb.portability import ArchiveError, kb_import_archive
from tenants.models import Perm, Workspace
from tenants.selectors import parse_uuid, workspace_get_for_user


class Command(BaseCommand):
    help = "Import a knowledge-base archive (.zip from kb_export or the UI/API) into a workspace as a new KB."

    def add_arguments(self, parser):
        parser.add_argument("path", help="the archive")
        parser.add_argument("--workspace", required=True, help="workspace id")
        parser.add_argument("--user", help="act as this user (needs kb:create there); default: the operator")

    def handle(self, *args, **opts):
        user = get_user(opts["user"]) if opts["user"] else None
        try:
            if user is not None:
                workspace = workspace_get_for_user(user=user, workspace_id=opts["workspace"], perm=Perm.KB_CREATE)
            else:
                workspace = Workspace.objects.select_related("organization").get(pk=parse_uuid(opts["workspace"]))
        except (Http404, Workspace.DoesNotExist):
            raise CommandError(
                f"no workspace {opts['workspace']!r}" + (f" that {user} may see" if user else "")
            ) from None
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from None
        try:
            kb = kb_import_archive(workspace=workspace, user=user, archive_path=opts["path"], door="command")
        except FileNotFoundError:
            raise CommandError(f"{opts['path']} does not exist") from None
        except ArchiveError as exc:
            raise CommandError(exc.message) from None
        ready = kb.documents.filter(status="ready").count()
        self.stdout.write(
            f"imported “{kb.name}” ({kb.pk}) into {workspace.name}: {kb.documents.count()} documents, {ready} ready"
        )
