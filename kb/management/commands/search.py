import json

from django.core.management.base import BaseCommand, CommandError

from kb.management.commands._common import add_user_argument, get_kb, get_user
from kb.search import MODES, SearchError, chunk_search
from kb.search.grouping import GROUPINGS
from kb.search.types import FUSIONS
from privexbot.audit import audit_record, query_fingerprint
from tenants.models import Perm


class Command(BaseCommand):
    help = "Search a knowledge base as a user: a readable table of ranked chunks, or JSON."

    def add_arguments(self, parser):
        add_user_argument(parser)
        parser.add_argument("--kb", required=True, help="knowledge base id or exact name")
        parser.add_argument("query")
        parser.add_argument("--mode", choices=MODES, default="hybrid")
        parser.add_argument("--top-k", type=int, default=10)
        parser.add_argument("--fusion", choices=FUSIONS, default=None, help="default: SEARCH_FUSION")
        parser.add_argument("--group-by", choices=GROUPINGS, default="chunk",
                            help="document: top-k distinct documents, each as its best chunk")  # fmt: skip
        parser.add_argument("--chunks-per-document", type=int, default=1,
                            help="--group-by document: also show up to N-1 more matching chunks of each")  # fmt: skip
        parser.add_argument("--threshold", type=float, default=None, help="drop results scoring below this")
        parser.add_argument("--filters", default=None, help='JSON, e.g. {"source_types": ["file_upload"]}')
        parser.add_argument("--json", action="store_true", help="print the results as JSON")

    def handle(self, *args, **opts):
        user = get_user(opts["user"])
        kb = get_kb(user, opts["kb"], Perm.KB_READ)
        try:
            filters = json.loads(opts["filters"]) if opts["filters"] else None
            results = chunk_search(
                kb=kb, query=opts["query"], mode=opts["mode"], top_k=opts["top_k"], filters=filters,
                score_threshold=opts["threshold"], fusion_method=opts["fusion"], group_by=opts["group_by"],
                chunks_per_document=opts["chunks_per_document"],
            )  # fmt: skip
        except (SearchError, json.JSONDecodeError) as exc:
            raise CommandError(str(exc)) from None
        audit_record(
            event_type="document_access", action="search", user=user, workspace=kb.workspace, resource=kb,
            details={**query_fingerprint(opts["query"], mode=opts["mode"]), "top_k": opts["top_k"],
                     "results": len(results), "door": "command"},
        )  # fmt: skip
        if opts["json"]:
            self.stdout.write(json.dumps([r.to_dict() for r in results], indent=2, ensure_ascii=False))
            return
        unit = "documents" if opts["group_by"] == "document" else "results"
        self.stdout.write(f"{len(results)} {unit} from {kb.name} ({opts['mode']})")
        self.stdout.write(f"{'#':>3} {'score':>8} {'vec':>11} {'kw':>11}  document / page / text")
        for r in results:
            vec = f"{r.vector_rank}:{r.vector_score:.3f}" if r.vector_rank else "-"
            kw = f"{r.keyword_rank}:{r.keyword_score:.3f}" if r.keyword_rank else "-"
            where = r.document_name + (f" p.{r.page}" if r.page else "")
            if r.heading_path:
                where += " > " + " > ".join(r.heading_path)
            self.stdout.write(f"{r.rank:>3} {r.score:>8.4f} {vec:>11} {kw:>11}  {where[:100]}")
            self.stdout.write(f"{'':>37}{' '.join(r.content.split())[:110]}")
            for other in r.document_chunks:
                where = (f"p.{other.page} " if other.page else "") + " > ".join(other.heading_path)
                self.stdout.write(f"{'':>4}{other.score:>8.4f}{'':>25}+ {where[:96]}")
