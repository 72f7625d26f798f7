import json

from django.core.management.base import BaseCommand, CommandError

from kb.management.commands._common import add_user_argument, get_kb, get_user
from kb.search import MODES, chunk_search
from kb.search.evaluation import evaluate, load_judgments
from kb.search.grouping import GROUPINGS
from tenants.models import Perm


class Command(BaseCommand):
    help = "Retrieval quality of a knowledge base on judged queries (JSONL): nDCG@k, Recall@k, MRR@k per mode."

    def add_arguments(self, parser):
        add_user_argument(parser)
        parser.add_argument("--kb", required=True, help="knowledge base id or exact name")
        parser.add_argument("judgments", help='JSONL: {"query": ..., "relevant": [url or document name, ...]}')
        parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
        parser.add_argument("--k", type=int, default=10)
        parser.add_argument("--group-by", choices=GROUPINGS, default="chunk",
                            help="document: score the top-k distinct documents (each as its best chunk)")  # fmt: skip
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        user = get_user(opts["user"])
        kb = get_kb(user, opts["kb"], Perm.KB_READ)
        try:
            judged = load_judgments(opts["judgments"])
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        if not judged:
            raise CommandError("the judgments file holds no queries")
        k = opts["k"]
        reports = evaluate(
            lambda query, mode, top_k: chunk_search(
                kb=kb, query=query, mode=mode, top_k=top_k, group_by=opts["group_by"]
            ),
            judged, modes=opts["modes"], k=k,
        )  # fmt: skip
        rows = [r.as_dict(k) for r in reports]
        if opts["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        self.stdout.write(f"{kb.name}: {len(judged)} queries, k={k}, group by {opts['group_by']}")
        self.stdout.write(f"{'mode':<8} {'nDCG':>7} {'Recall':>7} {'MRR':>7} {'p50 ms':>7} {'p95 ms':>7}")
        for row in rows:
            self.stdout.write(
                f"{row['mode']:<8} {row[f'ndcg@{k}']:>7.4f} {row[f'recall@{k}']:>7.4f} {row[f'mrr@{k}']:>7.4f}"
                f" {row['p50_ms']:>7.1f} {row['p95_ms']:>7.1f}"
            )
