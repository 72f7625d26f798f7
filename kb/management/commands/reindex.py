from django.core.management.base import BaseCommand

from kb.management.commands._common import add_user_argument, get_kb, get_user, wait_with_progress
from kb.services import document_reprocess, kb_reindex
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
                from django.core.management.base import CommandError

                raise CommandError(f"no document {opts['document']} in {kb.name}")
            ids = [document_reprocess(document=document, user=user).pk]
        else:
            kb_reindex(kb=kb, user=user)
            ids = list(kb.documents.values_list("pk", flat=True))
        self.stdout.write(f"{len(ids)} document(s) queued")
        if opts["wait"] and ids:
            counts = wait_with_progress(ids)
            self.stdout.write("finished: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
