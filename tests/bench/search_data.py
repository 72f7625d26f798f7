"""Real text and real embeddings for the search benchmarks: the Django documentation in shared/corpus/site,
parsed, chunked and embedded with the pipeline's own pieces (parse_html, chunk_for_model, embed_with_cache,
replace_chunks), so benchmark chunks are the chunks a crawl of that site would index.

Embeddings go through the bench database's EmbeddingCache: the first run embeds (~15 min on 2 cores),
later runs read them back in seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench._setup import CORPUS

SITE = CORPUS / "site"
MODEL = "all-MiniLM-L6-v2"
# Page URLs as the Django docs of this build are published; relevance judgments use the same form.
BASE_URL = "https://docs.djangoproject.com/en/3.2/"
SKIP_PAGES = {"genindex.html", "py-modindex.html", "search.html"}  # generated lists, not documentation


@dataclass
class Page:
    path: str  # relative to the site root, e.g. "faq/usage.html"
    title: str
    chunks: list = field(default_factory=list)

    @property
    def url(self) -> str:
        return BASE_URL + self.path


def page_paths() -> list[Path]:
    return sorted(
        p
        for p in SITE.rglob("*.html")
        if not p.relative_to(SITE).parts[0].startswith("_") and p.relative_to(SITE).as_posix() not in SKIP_PAGES
    )


def parse_and_chunk(chunking_config: dict | None = None) -> list[Page]:
    from kb.models import default_chunking_config
    from kb.pipeline import runtime
    from kb.pipeline.parse_html import parse_html_string

    config = chunking_config or default_chunking_config()
    pages = []
    for path in page_paths():
        rel = path.relative_to(SITE).as_posix()
        elements = parse_html_string(path.read_text(encoding="utf-8"), base_url=BASE_URL + rel)
        titles = [e["text"] for e in elements if e.get("type") == "Title"]
        page = Page(path=rel, title=(titles[0] if titles else rel)[:500])
        page.chunks = runtime.chunk_for_model(elements, config, MODEL, source={"url": page.url})
        if page.chunks:
            pages.append(page)
    return pages


def embed_pages(pages: list[Page], *, verbose: bool = True):
    """Vectors for every chunk of `pages`, in order (cache first; misses embedded in batches)."""
    from kb.pipeline import runtime
    from kb.pipeline.store import embed_with_cache

    texts = [c.embedding_text for p in pages for c in p.chunks]  # the context line + the content, as the worker
    embedder = runtime.embedder(MODEL)
    started = time.perf_counter()

    def progress(fraction: float) -> None:
        if verbose:
            print(f"\r  embedding {fraction * 100:5.1f}%  {time.perf_counter() - started:6.0f}s", end="", flush=True)

    vectors, stats = embed_with_cache(
        texts, model=MODEL, encode=lambda batch: embedder.encode(batch, batch_size=32), batch_size=128,
        on_progress=progress,
    )  # fmt: skip
    if verbose:
        print(f"\n  {len(texts)} chunks: {stats.cache_hits} cached, {stats.computed} embedded "
              f"in {time.perf_counter() - started:.0f}s")  # fmt: skip
    return vectors
