from django.core.management.base import BaseCommand

from kb.management.commands._common import add_user_argument, get_kb, get_user
from kb.selectors import kb_queryset_for_user, kb_status_summary
from tenants.models import Perm


class Command(BaseCommand):
    help = "Show knowledge bases and their documents' status, progress and errors."

    def add_arguments(self, parser):
        add_user_argument(parser)
        parser.add_argument("--kb", help="one knowledge base (id or exact name); default: list all")

    def handle(self, *args, **opts):
        user = get_user(opts["user"])
        if not opts["kb"]:
            for kb in kb_queryset_for_user(user=user).order_by("name"):
                s = kb_status_summary(kb=kb)
                self.stdout.write(
                    f"{kb.pk}  {kb.name:<30} {s['status']:<18} {s['documents']:>5} docs {s['chunks']:>7} chunks"
                )
            return
        kb = get_kb(user, opts["kb"], Perm.KB_READ)
        s = kb_status_summary(kb=kb)
        self.stdout.write(f"{kb.name} ({kb.pk}): {s['status']}, {s['documents']} documents, {s['chunks']} chunks")
        for doc in kb.documents.order_by("created_at"):
            line = f"  {doc.status:<12} {doc.progress:>3}%  {doc.chunk_count:>6} chunks  try {doc.attempts}  {doc.name}"
            self.stdout.write(line)
            if doc.error:
                self.stdout.write(f"      ! {doc.error}")
