"""What a page-level keyword signal would add to hybrid search (issue 17), measured before building it.

Run:  nice -n 5 .venv/bin/python tests/bench/retrieval_page_fusion.py   (after bench_retrieval.py built its KBs)

On bench_retrieval.py's KBs and judged sets, per set and half: the product's hybrid search grouped by document
(kb.search.chunk_search, group_by=document, 40 documents), bm25s over whole pages (bench_retrieval's baseline), and
the two fused per query at page level with the product's kb.search.fusion.dbsf — each side's scores rescaled
between mean − 3σ and mean + 3σ of its own candidates, then mixed with the page side's share w — for every query,
and for term-like queries only (kb.search.fusion.term_like, the product's rule; other queries keep w = 0). The
page side is bm25s here, not SQL, and the hybrid side runs without the product's own page evidence (page_weight 0):
this is the measurement that chose to build kb/search/pages.py, kept to compare that leg against bm25s pages.
nDCG@10 over pages, as bench_retrieval scores them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.bench import bench_retrieval as br  # noqa: E402
from tests.bench._setup import ROOT, bench_user_and_workspace, django_setup, machine  # noqa: E402

SHARES = (0.0, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0)
CANDIDATES = 40


def fused_pages(hybrid: dict[str, float], pages: dict[str, float], share: float) -> list[str]:
    """The product's dbsf (kb.search.fusion) over the two sides, keyed by page ref, the page side at `share`."""
    from kb.search import fusion

    def leg(scores: dict[str, float]) -> dict[str, tuple[int, float]]:
        return {ref: (rank, score) for rank, (ref, score) in enumerate(scores.items(), start=1)}

    fused = fusion.dbsf([leg(hybrid), leg(pages)], weights=[1 - share, share])
    return [ref for ref, _ in fusion.ranked(fused)]


def main() -> None:
    os.environ.setdefault("PERMANENT_STORAGE_PATH", str(ROOT / "var/bench/retrieval/storage"))
    django_setup(br.DB)
    import logging

    for noisy in ("kb.pipeline.runner", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from django.conf import settings

    from kb.models import KnowledgeBase
    from kb.search import chunk_search
    from kb.search.fusion import term_like
    from tests.bench import retrieval_corpora

    print(machine())
    _, workspace = bench_user_and_workspace()
    corpora = retrieval_corpora.corpora()
    print(f"nDCG@{br.K}, tune / held out; w = share of the page side in the fusion")
    print(f"{'set':<18} {'queries':<22} " + " ".join(f"{'w ' + str(w):>13}" for w in SHARES))
    for corpus in corpora.values():
        kb = KnowledgeBase.objects.filter(workspace=workspace, name=f"retrieval-{corpus.name}").first()
        if kb is None:
            print(f"{corpus.name}: no KB yet (run bench_retrieval.py first)")
            continue
        texts = retrieval_corpora.page_texts(corpus)
        pages = br.bm25_scorer([br.normalise(u) for u in texts], list(texts.values()), CANDIDATES)
        for set_name, path in corpus.sets.items():
            halves = br.load_set(path, None)
            seen = {}
            for split in br.SPLITS:
                rows = []
                for q in halves[split]:
                    hybrid: dict[str, float] = {}
                    for r in chunk_search(
                        kb=kb, query=q["query"], mode="hybrid", top_k=CANDIDATES, group_by="document", page_weight=0.0
                    ):
                        hybrid.setdefault(br.normalise(r.document_url or r.document_name), r.score)
                    term = term_like(q["query"], max_words=settings.SEARCH_TERM_QUERY_WORDS)
                    rows.append((q["relevant"], hybrid, pages(q["query"]), term))
                seen[split] = rows
            for label, only_terms in (("every query", False), ("term-like only", True)):
                cells = []
                for share in SHARES:
                    figures = []
                    for split in br.SPLITS:
                        rows = seen[split]
                        total = sum(
                            br.score(fused_pages(h, p, share if (term or not only_terms) else 0.0)[: br.K], rel)["ndcg"]
                            for rel, h, p, term in rows
                        )
                        figures.append(total / max(1, len(rows)))
                    cells.append(f"{figures[0]:.3f}/{figures[1]:.3f}")
                terms = sum(t for split in br.SPLITS for *_, t in seen[split])
                print(f"{set_name:<18} {label + f' ({terms} t.)' if only_terms else label:<22} "
                      + " ".join(f"{c:>13}" for c in cells), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
