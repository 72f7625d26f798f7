"""Judged sets from documentation Debian ships, for bench_retrieval (issue 17): questions nobody tuned for.

Packages (Debian bookworm, `apt-get download`, unpacked with `dpkg-deb -x` into var/bench/debian-docs/<package>/;
none of them is reserved for the hidden evaluation nor used by shared/corpus, see its MANIFEST.md):

- python-sqlalchemy-doc (SQLAlchemy 1.4, Sphinx HTML). Its FAQ (faq/*.html) is a list of questions whose answers
  link to the documentation pages that explain them; its glossary (glossary.html) defines terms and links each
  definition to where the documentation covers it.
- sphinx-doc (Sphinx 5.3, Sphinx HTML). Its general index (genindex.html) maps every indexed term (configuration
  values, directives, roles, options, events, API names) to the pages that define it.

Sets (every relation is the documents' own; nothing is judged by us):
- sqlalchemy_faq   natural-language questions: an FAQ section heading -> the pages its own answer links to.
- sqlalchemy_terms short technical terms: a glossary term -> the pages its definition links to.
- sphinx_terms     short technical terms: a general-index entry (its qualifier in parentheses dropped, e.g.
                   "html_theme (configuration value)" -> "html_theme") -> the pages the index points to.

The searched KB of a package leaves out the pages that hold the questions (SQLAlchemy's faq/ and glossary, so a
question is never found in its own heading), the generated lists (genindex, search, module index) and, for
SQLAlchemy, the release notes (changelog/: 27 pages, a third of the package's text, release notes rather than
documentation; left out to keep the first embedding run short). Index terms are naturally written on the pages
they point to: that is what an index is, and what a user typing a term meets.

Each question gets a split from a hash of its text (sha256 of the lower-cased query: even -> "tune", odd ->
"heldout"), so the halves are fixed whatever else changes.

Run: .venv/bin/python tests/bench/build_debian_sets.py   (downloads and unpacks if needed; writes
     var/bench/<set>_qa.jsonl and var/bench/debian-docs/sets.json)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import posixpath
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEBIAN_DOCS = ROOT / "var/bench/debian-docs"
BENCH = ROOT / "var/bench"
GENERATED = {"genindex.html", "search.html", "py-modindex.html"}


@dataclass(frozen=True)
class DocSet:
    """One Debian documentation package as a searched KB: which pages it holds and under which URL."""

    name: str
    package: str
    html: str  # the HTML root inside the package
    excluded: tuple[str, ...]  # page paths (relative to html) or folder prefixes left out of the KB

    @property
    def root(self) -> Path:
        return DEBIAN_DOCS / self.package / self.html

    @property
    def base_url(self) -> str:
        # Where Debian installs the pages: judgments and documents use the same form.
        return f"file:///{self.html}/"

    def kept(self, rel: str) -> bool:
        return (
            not rel.split("/", 1)[0].startswith("_")
            and rel not in GENERATED
            and not any(rel == e or rel.startswith(e.rstrip("/") + "/") for e in self.excluded)
        )

    def pages(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*.html") if self.kept(p.relative_to(self.root).as_posix()))


SQLALCHEMY = DocSet(
    name="sqlalchemy", package="python-sqlalchemy-doc", html="usr/share/doc/python-sqlalchemy-doc/html",
    excluded=("faq/", "glossary.html", "changelog/"),
)  # fmt: skip
SPHINX = DocSet(name="sphinx", package="sphinx-doc", html="usr/share/doc/sphinx-doc/html", excluded=())
DOC_SETS = {d.name: d for d in (SQLALCHEMY, SPHINX)}
# set name -> (doc set, kind, builder name)
SETS = {
    "sqlalchemy_faq": ("sqlalchemy", "questions", "faq"),
    "sqlalchemy_terms": ("sqlalchemy", "terms", "glossary"),
    "sphinx_terms": ("sphinx", "terms", "genindex"),
}


def split_of(query: str) -> str:
    """The fixed half of a question: sha256 of its lower-cased text, even -> tune, odd -> heldout."""
    return "tune" if int(hashlib.sha256(query.lower().encode("utf-8")).hexdigest(), 16) % 2 == 0 else "heldout"


def set_path(name: str) -> Path:
    return BENCH / f"{name}_qa.jsonl"


# ---------------------------------------------------------------- packages


def fetch(doc_set: DocSet) -> dict:
    """Download and unpack the package once; returns its file name, version and sha256."""
    debs = DEBIAN_DOCS / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{doc_set.package}_*.deb"))
    if not found:
        command = ["apt-get", "download", doc_set.package]
        if subprocess.run(command, cwd=debs, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], check=True)
            subprocess.run(command, cwd=debs, check=True)
        found = sorted(debs.glob(f"{doc_set.package}_*.deb"))
    deb = found[-1]
    if not doc_set.root.exists():
        subprocess.run(["dpkg-deb", "-x", str(deb), str(DEBIAN_DOCS / doc_set.package)], check=True)
    version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True, check=True)
    return {
        "package": doc_set.package, "deb": deb.name, "version": version.stdout.strip(),
        "sha256": hashlib.sha256(deb.read_bytes()).hexdigest(), "pages": len(doc_set.pages()),
    }  # fmt: skip


# ---------------------------------------------------------------- relations


def _text(element) -> str:
    return " ".join("".join(element.itertext()).replace("¶", "").split())


def _targets(doc_set: DocSet, rel: str, links, kept: set[str]) -> list[str]:
    """Pages of the KB that `links` (on page `rel`) point to, fragment dropped, in link order, the page itself
    excluded (a link to a section of the same page is not a judgment)."""
    found: dict[str, None] = {}
    for link in links:
        href = (link.get("href") or "").split("#", 1)[0]
        if not href or "://" in href or href.startswith(("/", "mailto:")) or not href.endswith(".html"):
            continue
        target = posixpath.normpath(posixpath.join(posixpath.dirname(rel), href))
        if target != rel and target in kept:
            found[doc_set.base_url + target] = None
    return list(found)


def _kept(doc_set: DocSet) -> set[str]:
    return {p.relative_to(doc_set.root).as_posix() for p in doc_set.pages()}


SECTION = "//section|//div[contains(concat(' ', @class, ' '), ' section ')]"
SECTION_ANCESTOR = "ancestor::*[self::section or contains(concat(' ', @class, ' '), ' section ')][1]"


def faq(doc_set: DocSet) -> list[dict]:
    """FAQ section headings (at least 3 words) -> the KB pages the section's own text links to (links of nested
    question sections belong to those)."""
    import lxml.html

    kept, out = _kept(doc_set), []
    for page in sorted((doc_set.root / "faq").glob("*.html")):
        rel = page.relative_to(doc_set.root).as_posix()
        tree = lxml.html.fromstring(page.read_bytes())
        for section in tree.xpath(SECTION):
            heading = section.xpath("./h2|./h3|./h4")
            if not heading:
                continue
            question = _text(heading[0])
            own = [a for a in section.xpath(".//a[@href]") if a.xpath(SECTION_ANCESTOR)[0] is section]
            relevant = _targets(doc_set, rel, own, kept)
            if relevant and len(question.split()) >= 3:
                out.append({"query": question, "relevant": relevant, "source": f"{rel}#{section.get('id', '')}"})
    return out


def glossary(doc_set: DocSet) -> list[dict]:
    """Glossary terms -> the KB pages their definition links to."""
    import lxml.html

    kept, out = _kept(doc_set), []
    tree = lxml.html.fromstring((doc_set.root / "glossary.html").read_bytes())
    for term in tree.xpath("//dl[contains(@class, 'glossary')]/dt"):
        definition = term.getnext()
        links = definition.xpath(".//a[@href]") if definition is not None else []
        relevant = _targets(doc_set, "glossary.html", links, kept)
        if relevant:
            out.append({"query": _text(term), "relevant": relevant, "source": f"glossary.html#{term.get('id', '')}"})
    return out


QUALIFIER = re.compile(r"\s*\([^()]*\)\s*$")  # "html_theme (configuration value)" -> "html_theme"


def genindex(doc_set: DocSet) -> list[dict]:
    """General-index entries -> every KB page the entry (and its sub-entries) links to. Entries that differ only
    by their qualifier ("build() (Builder method)", "build() (Sphinx method)") are one term with all their pages.
    Terms need 3 letters or digits (drops "-b", "-j" ... whose meaning is only in the qualifier)."""
    import lxml.html

    kept = _kept(doc_set)
    tree = lxml.html.fromstring((doc_set.root / "genindex.html").read_bytes())
    found: dict[str, dict] = {}
    for entry in tree.xpath("//table[contains(@class, 'genindextable')]//td/ul/li"):
        first = entry.xpath("./a") or [entry]
        head = (entry.text or "").strip() if first[0] is entry else _text(first[0])
        term = QUALIFIER.sub("", " ".join(head.split()))
        if len(re.sub(r"[^0-9A-Za-z]", "", term)) < 3:
            continue
        relevant = _targets(doc_set, "genindex.html", entry.xpath(".//a[@href]"), kept)
        if not relevant:
            continue
        row = found.setdefault(term.lower(), {"query": term, "relevant": [], "source": "genindex.html"})
        row["relevant"] += [r for r in relevant if r not in row["relevant"]]
    return list(found.values())


BUILDERS = {"faq": faq, "glossary": glossary, "genindex": genindex}


def page_texts(doc_set: DocSet) -> dict[str, str]:
    """URL -> the text the product's HTML parser extracts (what gets indexed), for the verbatim check."""
    from kb.pipeline.parse_html import parse_html_string

    out = {}
    for page in doc_set.pages():
        url = doc_set.base_url + page.relative_to(doc_set.root).as_posix()
        elements = parse_html_string(page.read_text(encoding="utf-8"), base_url=url)
        out[url] = " ".join(" ".join(e["text"] for e in elements).split()).lower()
    return out


def build(name: str) -> list[dict]:
    doc_set_name, _, builder = SETS[name]
    rows = BUILDERS[builder](DOC_SETS[doc_set_name])
    for row in rows:
        row["split"] = split_of(row["query"])
    return rows


def main() -> None:
    import sys

    sys.path.insert(0, str(ROOT))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated set names")
    args = parser.parse_args()
    manifest = {"packages": {}, "sets": {}}
    names = [n for n in args.sets.split(",") if n]
    for doc_set_name in sorted({SETS[n][0] for n in names}):
        manifest["packages"][doc_set_name] = fetch(DOC_SETS[doc_set_name])
    texts = {}
    for name in names:
        doc_set_name, kind, builder = SETS[name]
        rows = build(name)
        set_path(name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        if doc_set_name not in texts:
            texts[doc_set_name] = page_texts(DOC_SETS[doc_set_name])
        verbatim = sum(any(r["query"].lower() in texts[doc_set_name][u] for u in r["relevant"]) for r in rows)
        info = {
            "doc_set": doc_set_name, "kind": kind, "relation": builder, "questions": len(rows),
            "judgments": sum(len(r["relevant"]) for r in rows),
            "tune": sum(r["split"] == "tune" for r in rows), "heldout": sum(r["split"] == "heldout" for r in rows),
            "query_verbatim_in_a_relevant_page": verbatim,
        }  # fmt: skip
        manifest["sets"][name] = info
        print(f"{name}: {info} -> {set_path(name).relative_to(ROOT)}")
    (DEBIAN_DOCS / "sets.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    for name, info in manifest["packages"].items():
        print(f"{name}: {info}")


if __name__ == "__main__":
    main()
