"""Write a knowledge base's portable archive to a file (kb.portability; audited as a data export)."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from kb.management.commands._common import get_kb, get_user
from kb.models import KnowledgeBase
from kb.portability import ArchiveError, kb_export_archive
from privexbot.private_output import OutputExists, private_output
from tenants.models import Perm
from tenants.selectors import parse_uuid


class Command(BaseCommand):
    help = "Export a knowledge base as one portable archive (.zip): settings, documents, files, chunks, embeddings."

    def add_arguments(self, parser):
        parser.add_argument("kb_id", help="knowledge base id (or, with --user, its exact name)")
        parser.add_argument("path", help="the archive to write (a new file; '-' is refused: it is binary)")
        parser.add_argument("--no-files", action="store_true", help="leave the original files out")
        parser.add_argument("--user", help="act as this user (their role applies); default: the operator")
        parser.add_argument("--force", action="store_true", help="overwrite an existing file")

    def handle(self, *args, **opts):
        if opts["user"]:
            user = get_user(opts["user"])
            kb = get_kb(user, opts["kb_id"], Perm.KB_READ)
        else:  # the operator, who holds the server: any KB by id
            user = None
            try:
                kb = KnowledgeBase.objects.select_related("workspace__organization").get(pk=parse_uuid(opts["kb_id"]))
            except (KnowledgeBase.DoesNotExist, Http404):
                raise CommandError(f"no knowledge base {opts['kb_id']!r}") from None
        path = Path(opts["path"])
        try:
            with private_output(path, overwrite=opts["force"]) as out:
                summary = kb_export_archive(
                    kb=kb, user=user, out=out, include_files=not opts["no_files"], door="command"
                )
        except OutputExists as exc:
            raise CommandError(str(exc)) from None
        except ArchiveError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"exported “{kb.name}”: {summary['documents']} documents ({summary['ready_documents']} ready), "
            f"{summary['chunks']} chunks, {summary['files']} files → {path} ({summary['bytes']} bytes)"
        )
        self.stdout.write(json.dumps(summary))
