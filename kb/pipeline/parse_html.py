"""Fast HTML -> Element parser on lxml.

unstructured's partition_html manages ~2 pages/s on real documentation; a single walk over the
lxml tree does the same job (headings, paragraphs, lists, code, tables) hundreds of times faster.
Markdown is rendered to HTML and parsed here as well.
"""

from __future__ import annotations

import html as html_lib
import re

from kb.pipeline.filecheck import decode_text
from kb.pipeline.parse_common import HeadingTracker, collapse_ws, make_element, make_table, make_title
from kb.pipeline.types import Element

HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
# Never content: scripts, chrome, widgets.
SKIP_TAGS = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "nav",
        "aside",
        "footer",
        "head",
        "title",
        "meta",
        "link",
        "svg",
        "canvas",
        "iframe",
        "object",
        "embed",
        "button",
        "input",
        "select",
        "textarea",
        "map",
        "img",
        "audio",
        "video",
        "picture",
        "source",
    }
)
SKIP_ROLES = frozenset({"navigation", "search", "banner", "contentinfo", "complementary"})
# Sphinx and common site chrome that is not marked up semantically.
SKIP_CLASSES = frozenset(
    {
        "sphinxsidebar",
        "related",
        "headerlink",
        "navbar",
        "breadcrumb",
        "breadcrumbs",
        "skip-link",
        "toc-backref",
        "nav-panel",
        "navheader",
        "navfooter",
    }
)
# Self-links next to headings ("¶" in Sphinx, "#" in Node.js docs) are not part of the title.
PERMALINK_MARKS = frozenset({"#", "¶", "§", "🔗"})
SKIP_IDS = frozenset({"hd", "ft", "global-nav", "searchbox", "sidebar", "toc", "column2"})
BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "main",
        "body",
        "li",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "blockquote",
        "figure",
        "figcaption",
        "caption",
        "address",
        "details",
        "summary",
        "center",
        "fieldset",
        "form",
        "hr",
        "header",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "td",
        "th",
    }
)
# Element type emitted for text collected directly inside a block; "auto" decides by length.
BLOCK_KIND = {"p": "NarrativeText", "li": "ListItem", "dt": "Text", "figcaption": "NarrativeText"}
ROOT_XPATHS = ("//main", "//*[@role='main']", "//div[contains(concat(' ', @class, ' '), ' body ')]")
_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def parse_html_string(html: str, *, base_url: str | None = None) -> list[Element]:
    """Parse one HTML page (a crawled page or an uploaded file) into elements."""
    import lxml.etree
    import lxml.html

    html = _XML_DECL.sub("", html, count=1)  # lxml refuses str input that declares an encoding
    if not html.strip():
        return []
    try:
        doc = lxml.html.document_fromstring(html, base_url=base_url)
    except (lxml.etree.ParserError, ValueError):
        return []
    root, keep_header = _content_root(doc)
    walker = _Walker(keep_header=keep_header)
    walker.walk(root)
    walker.flush()
    return walker.out


def parse_html_bytes(data: bytes) -> list[Element]:
    return parse_html_string(decode_html(data))


def parse_markdown(text: str) -> list[Element]:
    """Markdown renders to HTML losslessly for our purposes; then it is just HTML."""
    import markdown

    text = _FRONT_MATTER.sub("", text, count=1)  # Jekyll/Hugo metadata is not content
    html = markdown.markdown(text, extensions=["tables", "fenced_code", "sane_lists"])
    return parse_html_string(html)


def html_title(html: str) -> str:
    """The page's <title>, whitespace-collapsed ("" if none); cheap, no full parse."""
    match = _TITLE_RE.search(html, 0, 200_000)
    return collapse_ws(html_lib.unescape(match.group(1))) if match else ""


def decode_html(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    match = _META_CHARSET.search(data[:4096])
    if match:
        try:
            return data.decode(match.group(1).decode("ascii"), errors="replace")
        except LookupError:
            pass
    return decode_text(data)


def _content_root(doc):
    """Prefer the page's main content container; fall back to <body>."""
    for xpath in ROOT_XPATHS:
        found = doc.xpath(xpath)
        if found and _has_text(found[0]):
            return found[0], True
    articles = doc.xpath("//article")
    if articles:
        best = max(articles, key=lambda el: len(el.text_content()))
        if _has_text(best):
            return best, True
    body = doc.find("body")
    return (body if body is not None else doc), False


def _has_text(el) -> bool:
    return len(el.text_content().strip()) >= 100


class _Walker:
    """One depth-first pass; inline text accumulates until a block boundary flushes it."""

    def __init__(self, *, keep_header: bool) -> None:
        self.out: list[Element] = []
        self.tracker = HeadingTracker()
        self.keep_header = keep_header
        self._buf: list[str] = []
        self._kinds: list[str] = ["auto"]

    def walk(self, el) -> None:
        if el.text:
            self._buf.append(el.text)
        for child in el:
            tag = child.tag
            if isinstance(tag, str) and not self._skipped(child, tag):
                self._visit(child, tag)
            if child.tail:
                self._buf.append(child.tail)

    def flush(self) -> None:
        text = collapse_ws("".join(self._buf))
        self._buf.clear()
        if not text:
            return
        kind = self._kinds[-1]
        if kind == "auto":
            kind = "NarrativeText" if len(text.split()) >= 8 else "Text"
        self.out.append(make_element(text, kind, page=None, heading_path=self.tracker.path))

    def _skipped(self, el, tag: str) -> bool:
        if tag in SKIP_TAGS or (tag == "header" and not self.keep_header):
            return True
        attrib = el.attrib
        if not attrib:
            return False
        if tag == "a" and (el.text or "").strip() in PERMALINK_MARKS and attrib.get("href", "").startswith("#"):
            return True
        if attrib.get("role") in SKIP_ROLES or attrib.get("id") in SKIP_IDS or attrib.get("hidden") is not None:
            return True
        classes = attrib.get("class")
        if classes and not SKIP_CLASSES.isdisjoint(classes.split()):
            return True
        style = attrib.get("style")
        return bool(style) and "none" in style and re.search(r"display\s*:\s*none", style) is not None

    def _visit(self, el, tag: str) -> None:
        if tag in HEADINGS:
            self.flush()
            text = collapse_ws(self._text_of(el))
            if text:
                self.out.append(make_title(text, level=HEADINGS[tag], page=None, tracker=self.tracker))
        elif tag == "pre":
            self.flush()
            code = "\n".join(line.rstrip() for line in self._text_of(el).strip("\n").splitlines())
            if code.strip():
                self.out.append(make_element(code, "CodeSnippet", page=None, heading_path=self.tracker.path))
        elif tag == "table" and not _is_layout_table(el):
            self.flush()
            self._table(el)
        elif tag == "br":
            self._buf.append(" ")
        elif tag in BLOCK_TAGS:
            self.flush()
            parent = self._kinds[-1]
            self._kinds.append("ListItem" if parent == "ListItem" and tag != "li" else BLOCK_KIND.get(tag, "auto"))
            self.walk(el)
            self.flush()
            self._kinds.pop()
        else:
            self.walk(el)  # inline: contributes to the current block's text

    def _text_of(self, el) -> str:
        """Text of a subtree, minus skipped children (e.g. Sphinx's pilcrow anchors)."""
        parts = [el.text or ""]
        for child in el:
            if isinstance(child.tag, str) and not self._skipped(child, child.tag):
                sep = " " if child.tag in BLOCK_TAGS or child.tag == "br" else ""
                parts.append(sep + self._text_of(child) + sep)
            parts.append(child.tail or "")
        return "".join(parts)

    def _table(self, table) -> None:
        rows = [[collapse_ws(self._text_of(cell)) for cell in tr if cell.tag in ("td", "th")] for tr in _rows(table)]
        rows = [row for row in rows if any(row)]
        if not rows:
            return
        head_rows = table.xpath("./thead/tr")
        header: list[str] = []
        if head_rows or all(cell.tag == "th" for cell in _rows(table)[0] if isinstance(cell.tag, str)):
            header = rows.pop(0)
        caption = table.find("caption")
        if caption is not None and collapse_ws(self._text_of(caption)):
            text = collapse_ws(self._text_of(caption))
            self.out.append(make_element(text, "NarrativeText", page=None, heading_path=self.tracker.path))
        self.out.append(make_table(header, rows, page=None, heading_path=self.tracker.path))


def _rows(table) -> list:
    return table.xpath("./tr|./thead/tr|./tbody/tr|./tfoot/tr")


def _is_layout_table(table) -> bool:
    """Tables used for page layout hold content, not data: walk them like divs."""
    if table.get("role") == "presentation" or table.find(".//table") is not None:
        return True
    rows = _rows(table)
    return not rows or max(sum(1 for cell in tr if cell.tag in ("td", "th")) for tr in rows) <= 1
