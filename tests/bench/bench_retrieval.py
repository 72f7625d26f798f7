"""Retrieval quality on judged sets nobody tuned for (issue 17): per set, per half and per mode, at page level.

Run:  nice -n 10 .venv/bin/python tests/bench/bench_retrieval.py [--sets django_faq,sphinx_terms] [--limit 100]
      [--fusion-grid] [--grid-file variants.json] [--fusion '{"fusion_method": "rrf"}'] [--chunks 10]
      (the first run embeds every corpus: ~25 min on 2 cores; later runs read the embeddings back from the cache
      and take a few minutes; a change of the chunker or the defaults re-chunks and embeds only new texts)

Sets (JSONL, see kb.search.evaluation): django_faq and django_dev (tests/bench/build_django_qa.py) on the Django
docs; sqlalchemy_faq, sqlalchemy_terms and sphinx_terms (tests/bench/build_debian_sets.py) on Debian's
python-sqlalchemy-doc and sphinx-doc. Each question is in the "tune" or the "heldout" half by a hash of its text
(build_debian_sets.split_of); choose parameters on the tune halves, read the held-out ones.

KBs: one per corpus, built through the product's pipeline at the product defaults (tests/bench/retrieval_corpora.py)
in this benchmark's own database (privexbot_bench_retrieval). Every search goes through kb.search.chunk_search,
the selector the API, the panel and `manage.py search` use.

Scoring at page level: the top --chunks (10) chunks are collapsed to their page (first occurrence keeps its place),
and nDCG@10, Recall@10 and MRR@10 are computed over that list of pages. Baselines: bm25s (English stemmer, stop
words) over whole pages (the page's parsed text) and over the KB's own chunks (their indexed text, collapsed the
same way).
Also printed: the share of chunks longer than the model's window (token count of what is embedded: the context line
and the content where the pipeline adds one, > max_seq_length), and hybrid's gain over the best single mode and
over bm25s on whole pages.

Fusion variants without re-embedding: --fusion-grid runs hybrid with each variant of fusion_variants() (the
selector's own parameters, read from its signature; settings overrides under "settings") on the tune halves;
--grid-file gives the variants as a JSON list instead; --fusion sets the hybrid parameters of the main run.
Figures go to var/bench/retrieval-results.json.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.bench._setup import ROOT, bench_user_and_workspace, django_setup, machine  # noqa: E402

DB = "privexbot_bench_retrieval"
RESULTS = ROOT / "var/bench/retrieval-results.json"
K = 10
SPLITS = ("tune", "heldout")
KNOBS = ("SEARCH_FUSION", "SEARCH_VECTOR_WEIGHT", "SEARCH_TERM_QUERY_WORDS", "SEARCH_TERM_VECTOR_WEIGHT",
         "SEARCH_KEYWORD_CONFIDENCE", "SEARCH_RRF_K", "SEARCH_CANDIDATES", "SEARCH_WEIGHTED_SCORES",
         "SEARCH_KEYWORD_RANKING", "SEARCH_KEYWORD_BM25_K1", "SEARCH_KEYWORD_BM25_B",
         "SEARCH_KEYWORD_PHRASE_WEIGHT", "SEARCH_KEYWORD_HEADING_WEIGHT", "SEARCH_KEYWORD_DOCUMENT_WEIGHT",
         "SEARCH_EF_SEARCH", "SEARCH_TERM_PAGE_WEIGHT", "SEARCH_PAGE_WEIGHT",
         "SEARCH_PAGE_BM25_B", "SEARCH_KEYWORD_MAX_MATCHES", "SEARCH_KEYWORD_RANK_BUDGET")  # fmt: skip


# ---------------------------------------------------------------- judged sets and scores


def normalise(ref: str) -> str:
    return ref.split("#", 1)[0].rstrip("/")  # as kb.search.evaluation compares URLs


def load_set(path: Path, limit: int | None) -> dict[str, list[dict]]:
    """split -> [{query, relevant: set of page refs}]. With `limit`, each half is a fixed sample of that size: the
    questions with the smallest sha256 (file order would be alphabetical for an index: all "--option" terms)."""
    import hashlib

    from tests.bench.build_debian_sets import split_of

    halves: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            refs = [normalise(r if isinstance(r, str) else (r.get("url") or r["document"])) for r in row["relevant"]]
            halves[row.get("split") or split_of(row["query"])].append({"query": row["query"], "relevant": set(refs)})
    if limit:
        sample = lambda q: hashlib.sha256(q["query"].encode("utf-8")).hexdigest()  # noqa: E731
        halves = {s: sorted(rows, key=sample)[:limit] for s, rows in halves.items()}
    return halves


def pages_of(refs: list[str], k: int = K) -> list[str]:
    """Chunks' pages in rank order, each page once (where it first appears), at most k."""
    return list(dict.fromkeys(refs))[:k]


def score(pages: list[str], relevant: set[str], k: int = K) -> dict[str, float]:
    gains = [1.0 if p in relevant else 0.0 for p in pages[:k]]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    first = next((i + 1 for i, g in enumerate(gains) if g), 0)
    return {
        "ndcg": dcg / ideal if ideal else 0.0,
        "recall": sum(gains) / len(relevant) if relevant else 0.0,
        "mrr": 1.0 / first if first else 0.0,
    }


def evaluate(rank, questions: list[dict]) -> dict[str, float]:
    """`rank(query)` -> page refs in rank order; the mean of each metric, the count and p50 latency."""
    totals, times = {"ndcg": 0.0, "recall": 0.0, "mrr": 0.0}, []
    for q in questions:
        started = time.perf_counter()
        pages = rank(q["query"])
        times.append(time.perf_counter() - started)
        for name, value in score(pages, q["relevant"]).items():
            totals[name] += value
    n = max(1, len(questions))
    times.sort()
    return {f"{name}@{K}": round(value / n, 4) for name, value in totals.items()} | {
        "queries": len(questions), "p50_ms": round(times[len(times) // 2] * 1000, 1) if times else 0.0,
    }  # fmt: skip


# ---------------------------------------------------------------- rankers


def selector_ranker(kb, mode: str, chunks: int, params: dict | None = None):
    """Pages from kb.search.chunk_search; params: its keyword arguments, plus "settings" overrides."""
    from django.test import override_settings

    from kb.search import chunk_search

    params = dict(params or {})
    overrides = params.pop("settings", {})

    def rank(query: str) -> list[str]:
        with override_settings(**overrides):
            results = chunk_search(kb=kb, query=query, mode=mode, top_k=chunks, **params)
        return pages_of([normalise(r.document_url or r.document_name) for r in results])

    return rank


def bm25_scorer(refs: list[str], texts: list[str], top: int):
    """bm25s over `texts` (English stemmer + stop words, its defaults otherwise): query -> {ref: best score > 0} of
    the `top` best texts, in rank order (a ref's first hit keeps its place)."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    top = min(top, len(texts))

    def scores(query: str) -> dict[str, float]:
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=stemmer, show_progress=False)
        if not tokens.vocab:
            return {}
        docs, values = retriever.retrieve(tokens, k=top, show_progress=False)
        out: dict[str, float] = {}
        for i, value in zip(docs[0], values[0], strict=True):
            if value > 0:
                out.setdefault(refs[int(i)], float(value))
        return out

    return scores


def bm25_ranker(refs: list[str], texts: list[str], chunks: int):
    """bm25s's hits collapsed by ref, at most K pages."""
    scores = bm25_scorer(refs, texts, chunks)
    return lambda query: pages_of(list(scores(query)))


def selector_params() -> set[str]:
    from kb.search import selector

    return set(inspect.signature(selector.chunk_search).parameters)


def modes(params: set[str], fusion: dict) -> dict[str, tuple[str, dict]]:
    """label -> (selector mode, parameters). hybrid+group_by=document only once the selector has that option."""
    out = {"vector": ("vector", {}), "keyword": ("keyword", {}), "hybrid": ("hybrid", dict(fusion))}
    if "group_by" in params:
        out["hybrid+group_by=document"] = ("hybrid", {**fusion, "group_by": "document"})
    return out


# ---------------------------------------------------------------- fusion variants


def fusion_variants(params: set[str]) -> list[dict]:
    """Hybrid variants the selector can take today (its signature and kb.search.types.FUSIONS decide): weights
    and k for rrf, weights and score scales for weighted, weights for any other fusion method, candidate pools.
    A fusion with other knobs: pass them in a --grid-file (a JSON list of such dicts) — this is the hook."""
    from kb.search.types import FUSIONS

    weights = (0.3, 0.4, 0.5, 0.55, 0.6, 0.7, 0.8)
    variants: list[dict] = [{}]
    if "fusion_method" not in params:
        return variants
    for method in FUSIONS:
        if method == "rrf":
            variants += [{"fusion_method": "rrf", "rrf_k_value": k, "vector_weight": w}
                         for k in (10, 30, 60) for w in weights if "rrf_k_value" in params]  # fmt: skip
        elif method == "weighted":
            variants += [{"fusion_method": "weighted", "vector_weight": w, "settings": {"SEARCH_WEIGHTED_SCORES": s}}
                         for s in ("absolute", "relative") for w in weights]  # fmt: skip
        else:
            variants += [{"fusion_method": method, "vector_weight": w} for w in weights] + [{"fusion_method": method}]
    if "candidates" in params:
        variants += [{"candidates": c} for c in (20, 80)]
    return variants


def run_grid(kbs, sets, variants: list[dict], chunks: int, splits: tuple[str, ...]) -> list[dict]:
    out = []
    print(f"\n== fusion grid: {len(variants)} hybrid variants on the {'/'.join(splits)} halves (nDCG@{K})")
    for variant in variants:
        row = {"variant": variant, "ndcg": {}, "p50_ms": {}}
        for set_name, (corpus, halves) in sets.items():
            for split in splits:
                params = {k: v for k, v in variant.items() if k != "mode"}  # a variant may name another mode
                rank = selector_ranker(kbs[corpus], variant.get("mode", "hybrid"), chunks, params)
                figures = evaluate(rank, halves[split])
                row["ndcg"][f"{set_name}/{split}"] = figures[f"ndcg@{K}"]
                row["p50_ms"][f"{set_name}/{split}"] = figures["p50_ms"]
        for split in splits:
            values = [v for key, v in row["ndcg"].items() if key.endswith("/" + split)]
            row[f"mean_{split}"] = round(sum(values) / len(values), 4)
        out.append(row)
        cells = "  ".join(f"{key} {v:.3f}" for key, v in row["ndcg"].items())
        means = "  ".join(f"mean {s} {row[f'mean_{s}']:.4f}" for s in splits)
        p50 = sum(row["p50_ms"].values()) / max(1, len(row["p50_ms"]))
        print(f"  {json.dumps(variant, sort_keys=True):<90} {means}  p50 {p50:5.1f} ms | {cells}", flush=True)
    best = max(out, key=lambda r: r[f"mean_{splits[0]}"])
    print(f"  best on {splits[0]} (mean over sets): {json.dumps(best['variant'], sort_keys=True)}"
          f" {best[f'mean_{splits[0]}']:.4f}")  # fmt: skip
    return out


# ---------------------------------------------------------------- truncation


def indexed_texts(kb) -> list[tuple[str, str, bool]]:
    """(page url, the text each chunk is embedded and keyword-indexed as, its stored `truncated` flag). Chunks with
    a context line (title > headings, when the pipeline has them) are indexed as kb.pipeline.types.indexed_text
    joins them; before that, as their content."""
    from kb.models import Chunk
    from kb.pipeline import types

    join = getattr(types, "indexed_text", None)
    has_context = join is not None and any(f.name == "context" for f in Chunk._meta.get_fields())
    fields = ["document__url", "content", "truncated"] + (["context"] if has_context else [])
    rows = kb.chunks.order_by("document_id", "index").values_list(*fields)
    return [(r[0], join(r[3], r[1]) if has_context else r[1], bool(r[2])) for r in rows]


def truncation(kb, rows: list[tuple[str, str, bool]]) -> dict:
    """Chunks whose indexed text (what is embedded) is longer than the model's window, by a fresh count with the
    model's tokenizer (special tokens included, as the model sees them), and by the stored `truncated` flag."""
    from kb.pipeline import runtime

    model = (kb.embedding_config or {}).get("model")
    window = runtime.max_seq_length(model)
    counts = runtime.token_counter(model)([r[1] for r in rows])
    over = sum(c > window for c in counts)
    return {
        "chunks": len(rows), "max_seq_length": window, "over_window": over,
        "over_window_share": round(over / max(1, len(rows)), 4), "flagged_truncated": sum(r[2] for r in rows),
        "mean_tokens": round(sum(counts) / max(1, len(counts)), 1), "max_tokens": max(counts, default=0),
        "mean_chars": round(sum(len(r[1]) for r in rows) / max(1, len(rows)), 1),
    }  # fmt: skip


# ---------------------------------------------------------------- report


def table(results: dict, labels: list[str]) -> None:
    print(f"\n== summary: nDCG@{K} (page level)   [R@{K} / MRR@{K} in the per-set lines above]")
    short = {"hybrid+group_by=document": "hybrid+group"}
    head = f"  {'set/half':<26}" + "".join(f"{short.get(label, label)[:14]:>15}" for label in labels)
    print(head + f"{'hyb-best1':>11}{'hyb-bm25pg':>11}")
    for set_name, halves in results.items():
        for split, rows in halves.items():
            line = f"  {set_name + '/' + split:<26}" + "".join(f"{rows[label][f'ndcg@{K}']:>15.4f}" for label in labels)
            gains = rows["gains"]
            print(line + f"{gains['hybrid_minus_best_single']:>+11.4f}{gains['hybrid_minus_bm25_pages']:>+11.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=DB)
    parser.add_argument("--sets", default="", help="comma-separated set names (default: all)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many questions per half (quick runs)")
    parser.add_argument("--chunks", type=int, default=K, help=f"chunks asked for, collapsed to pages (default {K})")
    parser.add_argument("--fusion", default="{}", help="hybrid parameters of the main run, JSON (e.g. "
                        '\'{"fusion_method": "rrf", "settings": {"SEARCH_RRF_K": 60}}\')')  # fmt: skip
    parser.add_argument("--fusion-grid", action="store_true", help="also evaluate fusion variants (tune halves)")
    parser.add_argument("--grid-file", default=None, help="JSON list of hybrid variants for the grid")
    parser.add_argument("--grid-heldout", action="store_true", help="grid: print the held-out halves too")
    parser.add_argument("--grid-only", action="store_true", help="only the grid (no per-mode tables, no baselines)")
    parser.add_argument("--reuse-kbs", action="store_true",
                        help="keep the KBs built before, whatever the pipeline is now (one fixed index)")  # fmt: skip
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    # Parsed elements are stored encrypted like any document's; keep them with the benchmark's KBs between runs.
    os.environ.setdefault("PERMANENT_STORAGE_PATH", str(ROOT / "var/bench/retrieval/storage"))
    django_setup(args.db)
    import logging

    for noisy in ("kb.pipeline.runner", "bm25s"):  # a line per page processed / per index built
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from django.conf import settings
    from django.db import connection

    from tests.bench import retrieval_corpora

    print(machine())
    print("settings: " + ", ".join(f"{name} {getattr(settings, name, '-')}" for name in KNOBS))
    from kb.models import default_chunking_config

    print(f"default chunking: {default_chunking_config()}; model {settings.DEFAULT_EMBEDDING_MODEL}")
    user, workspace = bench_user_and_workspace()
    corpora = retrieval_corpora.corpora()
    wanted = [s for s in args.sets.split(",") if s] or [s for c in corpora.values() for s in c.sets]
    sets = {s: (c.name, load_set(c.sets[s], args.limit)) for c in corpora.values() for s in c.sets if s in wanted}
    needed = sorted({corpus for corpus, _ in sets.values()})
    marks = {name: retrieval_corpora.fingerprint(corpora[name]) for name in needed}
    if args.reuse_kbs:
        from kb.models import KnowledgeBase

        for name in needed:
            built = KnowledgeBase.objects.filter(workspace=workspace, name=f"retrieval-{name}").first()
            if built is not None and built.description != marks[name]:
                print(
                    f"  retrieval-{name}: reused as built ({built.created_at:%Y-%m-%d %H:%M}), not at today's pipeline"
                )
                marks[name] = built.description
    print("\n== KBs (product pipeline, product defaults)")
    kbs = {
        name: retrieval_corpora.corpus_kb(corpora[name], workspace=workspace, user=user, mark=marks[name])
        for name in needed
    }
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE kb_chunk")  # the term statistics the keyword leg's idf reads
    report = {
        "machine": machine(), "settings": {n: getattr(settings, n, None) for n in KNOBS},
        "chunking": default_chunking_config(), "chunks_collapsed": args.chunks, "corpora": {}, "sets": {},
    }  # fmt: skip
    chunk_rows = {name: indexed_texts(kb) for name, kb in kbs.items()}
    for name, kb in kbs.items():
        info = {"pages": len(corpora[name].pages), "documents_ready": kb.documents.filter(status="ready").count(),
                **truncation(kb, chunk_rows[name])}  # fmt: skip
        report["corpora"][name] = info
        print(f"  {name}: {info['documents_ready']}/{info['pages']} pages ready, {info['chunks']} chunks,"
              f" mean {info['mean_chars']:.0f} chars / {info['mean_tokens']:.0f} tokens (max {info['max_tokens']});"
              f" over the {info['max_seq_length']}-token window: {info['over_window']}"
              f" ({100 * info['over_window_share']:.1f} %), flagged truncated {info['flagged_truncated']}")  # fmt: skip

    params = selector_params()
    fusion = json.loads(args.fusion)
    labels = list(modes(params, fusion)) + ["bm25s pages", "bm25s chunks"]
    if "group_by" not in params:
        print("  (kb.search.chunk_search has no group_by parameter yet: hybrid+group_by=document is skipped)")
    results: dict = {}
    if not args.grid_only:
        texts = {name: retrieval_corpora.page_texts(corpora[name]) for name in needed}
        for set_name, (corpus, halves) in sets.items():
            kb = kbs[corpus]
            rankers = {
                label: selector_ranker(kb, mode, args.chunks, p) for label, (mode, p) in modes(params, fusion).items()
            }
            page_refs = [normalise(u) for u in texts[corpus]]
            rankers["bm25s pages"] = bm25_ranker(page_refs, list(texts[corpus].values()), args.chunks)
            rows = chunk_rows[corpus]  # the chunks' indexed text, as the keyword leg sees it
            rankers["bm25s chunks"] = bm25_ranker([normalise(r[0]) for r in rows], [r[1] for r in rows], args.chunks)
            for rank in rankers.values():  # warm: query embeddings into Redis, term statistics, bm25s
                for split in SPLITS:
                    for q in halves[split][:20]:
                        rank(q["query"])
            results[set_name] = {}
            print(f"\n== {set_name} ({corpus}): " + ", ".join(f"{s} {len(halves[s])}" for s in SPLITS) + " questions")
            for split in SPLITS:
                rows_out = {label: evaluate(rank, halves[split]) for label, rank in rankers.items()}
                single = max(rows_out["vector"][f"ndcg@{K}"], rows_out["keyword"][f"ndcg@{K}"])
                hybrid = rows_out["hybrid"][f"ndcg@{K}"]
                rows_out["gains"] = {
                    "hybrid_minus_best_single": round(hybrid - single, 4),
                    "hybrid_minus_bm25_pages": round(hybrid - rows_out["bm25s pages"][f"ndcg@{K}"], 4),
                    "hybrid_minus_bm25_chunks": round(hybrid - rows_out["bm25s chunks"][f"ndcg@{K}"], 4),
                }
                if "hybrid+group_by=document" in rows_out:
                    grouped = rows_out["hybrid+group_by=document"][f"ndcg@{K}"]
                    bm25_pages = rows_out["bm25s pages"][f"ndcg@{K}"]
                    rows_out["gains"]["grouped_minus_best_single"] = round(grouped - single, 4)
                    rows_out["gains"]["grouped_minus_bm25_pages"] = round(grouped - bm25_pages, 4)
                results[set_name][split] = rows_out
                for label in labels:
                    r = rows_out[label]
                    print(f"  {split:<8} {label:<26} nDCG {r[f'ndcg@{K}']:.4f}  R {r[f'recall@{K}']:.4f}"
                          f"  MRR {r[f'mrr@{K}']:.4f}  p50 {r['p50_ms']:6.1f} ms")  # fmt: skip
                print(f"  {split:<8} gains: " + ", ".join(f"{k} {v:+.4f}" for k, v in rows_out["gains"].items()))
        report["sets"] = results
        table(results, labels)
    if args.fusion_grid or args.grid_file:
        variants = json.loads(Path(args.grid_file).read_text()) if args.grid_file else fusion_variants(params)
        splits = SPLITS if args.grid_heldout else ("tune",)
        report["grid"] = run_grid(kbs, sets, variants, args.chunks, splits)
    out = Path(args.out)
    if out.exists() and (args.sets or args.grid_only):  # a partial run keeps the other sets' figures
        previous = json.loads(out.read_text())
        report["sets"] = {**previous.get("sets", {}), **report["sets"]}
        report["corpora"] = {**previous.get("corpora", {}), **report["corpora"]}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(f"\nfigures -> {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
