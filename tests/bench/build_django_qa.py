"""Judged questions from the Django documentation itself, for evaluate_search and bench_search.

Questions are the headings of the FAQ pages (shared/corpus/site/faq/*.html) and the terms of the glossary
(glossary.html); the relevant documents of a question are the documentation pages its answer or definition
links to (internal links, fragment dropped). The FAQ pages and the glossary are left out of the searched KB,
so a question is answered only by where the documentation itself points. Nothing here is written by hand.

A second, larger set ("dev", for choosing parameters so that the FAQ set stays a held-out test) is also taken
from the documents: the title of every how-to and topic guide (howto/**, topics/**) and every section heading
phrased as a question (How/What/Why/When/Which/Where/Can/Do/Does/Should/Is/Are ...) outside the FAQ, glossary
and release notes, each judged relevant to the page it heads. Queries are the documents' own words; judgments
are where those words stand.

Run: .venv/bin/python tests/bench/build_django_qa.py [--set faq|dev] [--out var/bench/django_faq_qa.jsonl]
"""

from __future__ import annotations

import argparse
import json
import posixpath
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.bench.search_data import BASE_URL, SITE, SKIP_PAGES  # noqa: E402

FAQ_DIR = "faq"
GLOSSARY = "glossary.html"
NOT_ANSWERS = {"index.html", "contents.html", GLOSSARY, *SKIP_PAGES}


def _targets(rel: str, links) -> list[str]:
    found: dict[str, None] = {}
    for link in links:
        href = link.get("href").split("#", 1)[0]
        if not href or "://" in href or href.startswith(("/", "mailto:")) or not href.endswith(".html"):
            continue
        target = posixpath.normpath(posixpath.join(posixpath.dirname(rel), href))
        if target.startswith(FAQ_DIR + "/") or target in NOT_ANSWERS or not (SITE / target).exists():
            continue
        found[BASE_URL + target] = None
    return list(found)


def glossary() -> list[dict]:
    import lxml.html

    tree = lxml.html.fromstring((SITE / GLOSSARY).read_bytes())
    out = []
    for term in tree.xpath("//dl[contains(@class, 'glossary')]/dt"):
        definition = term.getnext()
        relevant = _targets(GLOSSARY, definition.xpath(".//a[@href]")) if definition is not None else []
        if relevant:
            out.append({"query": _text(term), "relevant": relevant, "source": f"{GLOSSARY}#{term.get('id', '')}"})
    return out


def _text(element) -> str:
    return " ".join("".join(element.itertext()).replace("¶", "").split())


def questions(page: Path) -> list[dict]:
    import lxml.html

    rel = page.relative_to(SITE).as_posix()
    tree = lxml.html.fromstring(page.read_bytes())
    out = []
    for section in tree.xpath("//div[contains(concat(' ', @class, ' '), ' section ')]"):
        heading = section.xpath("./h2|./h3|./h4")
        if not heading:
            continue
        question = _text(heading[0])
        # The section's own links, not those of nested question sections (each is a question of its own).
        own = [
            link
            for link in section.xpath(".//a[@href]")
            if link.xpath("ancestor::div[contains(concat(' ', @class, ' '), ' section ')][1]")[0] is section
        ]
        relevant = _targets(rel, own)
        if relevant and len(question.split()) >= 3:
            out.append({"query": question, "relevant": relevant, "source": f"{rel}#{section.get('id', '')}"})
    return out


def build() -> list[dict]:
    return [q for page in sorted((SITE / FAQ_DIR).glob("*.html")) for q in questions(page)] + glossary()


GUIDES = ("howto/", "topics/")
QUESTION = re.compile(r"(How|What|Why|When|Which|Where|Can|Do|Does|Should|Is|Are)\b")


def build_dev() -> list[dict]:
    """Guide titles and question-shaped section headings -> the page they head (see the module docstring)."""
    import lxml.html

    from tests.bench.search_data import page_paths

    found: dict[str, dict] = {}
    for path in page_paths():
        rel = path.relative_to(SITE).as_posix()
        if rel.startswith((FAQ_DIR + "/", "releases/")) or rel in NOT_ANSWERS:
            continue
        tree = lxml.html.fromstring(path.read_bytes())
        queries = []
        if rel.startswith(GUIDES):
            queries += [_text(h) for h in tree.xpath("//div[contains(concat(' ', @class, ' '), ' section ')]/h1")[:1]]
        for heading in tree.xpath("//div[contains(concat(' ', @class, ' '), ' section ')]/*[self::h2 or self::h3]"):
            text = _text(heading)
            if QUESTION.match(text) and len(text.split()) >= 3:
                queries.append(text)
        for query in queries:
            row = found.setdefault(query.lower(), {"query": query, "relevant": [], "source": rel})
            if BASE_URL + rel not in row["relevant"]:
                row["relevant"].append(BASE_URL + rel)
    return list(found.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=("faq", "dev"), default="faq")
    parser.add_argument("--out", default=None, help="default var/bench/django_<set>_qa.jsonl")
    args = parser.parse_args()
    args.out = args.out or str(Path(__file__).resolve().parents[2] / f"var/bench/django_{args.set}_qa.jsonl")
    rows = build() if args.set == "faq" else build_dev()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(rows)} questions, {sum(len(r['relevant']) for r in rows)} judgments -> {args.out}")


if __name__ == "__main__":
    main()
