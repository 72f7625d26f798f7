from django.core.management.base import BaseCommand, CommandError

from kb.management.commands._common import add_user_argument, get_kb, get_user, wait_with_progress
from kb.services import document_reprocess, kb_reindex
from privexbot.errors import ServiceError
from tenants.models import Perm


class Command(BaseCommand):
    help = "Process one document, or every document of a knowledge base, again (cached work is reused)."

    def add_arguments(self, parser):
        add_user_argument(parser)
        parser.add_argument("--kb", required=True, help="knowledge base id or exact name")
        parser.add_argument("--document", help="only this document id")
        parser.add_argument("--wait", action="store_true")

    def handle(self, *args, **opts):
        user = get_user(opts["user"])
        kb = get_kb(user, opts["kb"], Perm.KB_UPDATE)
        if opts["document"]:
            document = kb.documents.filter(pk=opts["document"]).first()
            if document is None:
                raise CommandError(f"no document {opts['document']} in {kb.name}")
            try:
                ids = [document_reprocess(document=document, user=user).pk]
            except ServiceError as exc:
                raise CommandError(exc.message) from None
            self.stdout.write("1 document queued")
        else:
            queued = kb_reindex(kb=kb, user=user)
            ids = list(kb.documents.values_list("pk", flat=True))
            busy = len(ids) - queued
            note = f"; {busy} already being processed (left to finish)" if busy else ""
            self.stdout.write(f"{queued} document(s) queued{note}")
        if opts["wait"] and ids:
            counts = wait_with_progress(ids)
            self.stdout.write("finished: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
