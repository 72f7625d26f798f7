"""The searched KBs of bench_retrieval: the Django docs (shared/corpus/site) and the Debian documentation packages
of build_debian_sets, each built through the product's own pipeline at the product's default settings.

A page becomes what a website crawl makes of it (drafts.crawler.spider: parse_html_string with the page URL, the
page title as the document name), a Document with those parsed elements, and then the worker's own task body
(kb.pipeline.runner.process: chunk at the KB's chunking config -> embed through the embedding cache -> store). A
KB made with kb_create's defaults therefore holds what a user's KB of those pages would hold, whatever the chunker,
the chunk context or the defaults are today.

A KB is reused while its fingerprint matches: the default chunking config, the model and the source of the
pipeline modules that shape chunks (kb/pipeline/chunking/, runtime, runner, store, parse_html). Any change there
rebuilds it; texts that did not change come back from the embedding cache (kb_embeddingcache of this benchmark's
database), so only new chunk texts are embedded.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench import build_debian_sets, build_django_qa, search_data
from tests.bench._setup import ROOT

# What makes the chunks of a page: a change in any of these rebuilds the KBs.
PIPELINE_SOURCES = (
    "kb/pipeline/chunking",
    "kb/pipeline/runtime.py",
    "kb/pipeline/runner.py",
    "kb/pipeline/store.py",
    "kb/pipeline/parse_html.py",
    "kb/models.py",
)
DJANGO_EXCLUDED = ("faq/", "glossary.html")  # they hold the Django questions (as in search_table)


@dataclass
class Corpus:
    name: str
    pages: list[tuple[str, Path]]  # (url, file)
    sets: dict[str, Path] = field(default_factory=dict)  # set name -> JSONL


def corpora() -> dict[str, Corpus]:
    """The corpora and their judged sets (built from the documents when a JSONL is missing)."""
    django_pages = [
        (search_data.BASE_URL + p.relative_to(search_data.SITE).as_posix(), p)
        for p in search_data.page_paths()
        if not p.relative_to(search_data.SITE).as_posix().startswith(DJANGO_EXCLUDED)
    ]
    django = Corpus("django", django_pages)
    for name, build in (("django_faq", build_django_qa.build), ("django_dev", build_django_qa.build_dev)):
        django.sets[name] = _ensure(ROOT / f"var/bench/{name}_qa.jsonl", build)
    out = {"django": django}
    for doc_set in build_debian_sets.DOC_SETS.values():
        if not doc_set.root.exists():
            build_debian_sets.fetch(doc_set)
        pages = [(doc_set.base_url + p.relative_to(doc_set.root).as_posix(), p) for p in doc_set.pages()]
        corpus = out[doc_set.name] = Corpus(doc_set.name, pages)
        for set_name, (owner, _, _) in build_debian_sets.SETS.items():
            if owner == doc_set.name:
                corpus.sets[set_name] = _ensure(
                    build_debian_sets.set_path(set_name), lambda n=set_name: build_debian_sets.build(n)
                )
    return out


def _ensure(path: Path, build) -> Path:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in build()), encoding="utf-8")
    return path


def fingerprint(corpus: Corpus) -> str:
    from django.conf import settings

    from kb.models import default_chunking_config

    digest = hashlib.sha256()
    digest.update(json.dumps([default_chunking_config(), settings.DEFAULT_EMBEDDING_MODEL], sort_keys=True).encode())
    for source in PIPELINE_SOURCES:
        path = ROOT / source
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.relative_to(ROOT).as_posix().encode() + b"\0" + file.read_bytes())
    digest.update("\n".join(url for url, _ in corpus.pages).encode())
    return f"bench_retrieval {digest.hexdigest()}"


def parse_page(url: str, path: Path) -> tuple[str, list[dict]]:
    """(title, elements) as the crawler makes them (drafts.crawler.spider._store)."""
    from kb.pipeline.parse_html import html_title, parse_html_string

    html = path.read_text(encoding="utf-8", errors="replace")
    elements = parse_html_string(html, base_url=url)
    title = html_title(html) or next((e["text"] for e in elements if e.get("type") == "Title"), "") or url
    return title, elements


def page_texts(corpus: Corpus) -> dict[str, str]:
    """URL -> the page's whole parsed text (title first), for the bm25s baseline over whole pages."""
    out = {}
    for url, path in corpus.pages:
        title, elements = parse_page(url, path)
        out[url] = "\n".join([title, *(e["text"] for e in elements)])
    return out


def corpus_kb(corpus: Corpus, *, workspace, user, mark: str | None = None, verbose: bool = True):
    """The corpus's KB at the product defaults: reused when its fingerprint (`mark`, taken when the run started,
    before the pipeline modules were imported) matches, else built (or finished, after an interrupted run) through
    the worker's task body."""
    from kb.models import Document, DocumentStatus, KnowledgeBase
    from kb.pipeline import runner
    from kb.pipeline.elements import elements_save
    from kb.services import kb_create

    name, mark = f"retrieval-{corpus.name}", mark or fingerprint(corpus)
    kb = KnowledgeBase.objects.filter(workspace=workspace, name=name).first()
    if kb is not None and kb.description != mark:
        if verbose:
            print(f"  {name}: pipeline or defaults changed since it was built: rebuilding")
        from privexbot.storage import get_storage

        stored = [f for f in kb.documents.values_list("elements_file", flat=True) if f]
        KnowledgeBase.objects.filter(pk=kb.pk).delete()
        for stored_name in stored:  # the old pages' parsed elements: nothing points at them any more
            get_storage().delete(stored_name)
        kb = None
    if kb is None:
        kb = kb_create(workspace=workspace, user=user, name=name, description=mark)
        started = time.perf_counter()
        for url, path in corpus.pages:
            title, elements = parse_page(url, path)
            text = "\n".join(e["text"] for e in elements)
            Document.objects.create(
                kb=kb, source_type="website_crawl", name=title[:500], url=url, file_type="html",
                elements_file=elements_save(elements), content_hash=hashlib.sha256(text.encode()).hexdigest(),
            )  # fmt: skip
        if verbose:
            print(f"  {name}: {len(corpus.pages)} pages parsed in {time.perf_counter() - started:.0f}s")
    # failed = permanently (a page with no text): not tried again; anything else unfinished is (re)processed
    finished = [DocumentStatus.READY, DocumentStatus.FAILED]
    todo = list(kb.documents.exclude(status__in=finished).values_list("pk", flat=True))
    Document.objects.filter(pk__in=todo).update(status=DocumentStatus.QUEUED, attempts=0)
    started, failed = time.perf_counter(), []
    for done, pk in enumerate(todo, start=1):
        outcome = runner.process(pk)
        if outcome.status != DocumentStatus.READY:
            failed.append((str(pk), outcome.status))
        if verbose and (done % 25 == 0 or done == len(todo)):
            chunks = kb.chunks.count()
            print(f"\r  {name}: {done}/{len(todo)} pages processed, {chunks} chunks,"
                  f" {time.perf_counter() - started:.0f}s", end="", flush=True)  # fmt: skip
    if verbose and todo:
        print()
    if failed:
        errors = list(kb.documents.filter(pk__in=[f[0] for f in failed]).values_list("url", "error")[:5])
        print(f"  {name}: {len(failed)} pages did not become ready (empty pages give no chunks): {errors}")
    return kb
