"""The structural strategies: recursive (whole document), by_page and by_heading."""

from __future__ import annotations

from dataclasses import dataclass

from .joined import ELEMENT_JOINER, Candidate, JoinedText
from .sections import section_candidates


def recursive_candidates(doc: JoinedText, config: dict) -> list[Candidate]:
    return section_candidates(doc, range(len(doc.elements)), config)


def by_page_candidates(doc: JoinedText, config: dict) -> list[Candidate]:
    """One chunk per page (more only when a page is longer than chunk_size), pages in order of appearance.

    Elements without a page belong to the page before them (or the first page, at the start); a document
    with no pages at all is one page.
    """
    pages = [element.get("page") for element in doc.elements]
    current = next((page for page in pages if page is not None), None)
    by_page: dict[int | None, list[int]] = {}  # insertion-ordered: pages in order of first appearance
    for index, page in enumerate(pages):
        current = current if page is None else page
        by_page.setdefault(current, []).append(index)
    return [candidate for indices in by_page.values() for candidate in section_candidates(doc, indices, config)]


@dataclass
class _Section:
    title: int | None  # None for the text before the first heading
    indices: list[int]
    path: list[str]
    size: int = 0  # characters when rendered whole


def by_heading_candidates(doc: JoinedText, config: dict) -> list[Candidate]:
    """A chunk per section, a section being a Title and everything up to the next Title.

    Small neighbouring sections are packed into one chunk while they fit in chunk_size and stay under the
    parent heading of the first one (its siblings and their sub-sections; for a top-level heading, its own
    sub-sections), so a run of tiny sections does not become a run of tiny chunks. Such a chunk's
    heading_path is the headings all its sections share.
    """
    candidates: list[Candidate] = []
    for group in _groups(_sections(doc), config["chunk_size"]):
        indices = [index for section in group for index in section.indices]
        path = _common_prefix([section.path for section in group])
        candidates += section_candidates(doc, indices, config, title=group[0].title, heading_path=path)
    return candidates


def _sections(doc: JoinedText) -> list[_Section]:
    sections: list[_Section] = []
    for index, element in enumerate(doc.elements):
        if element.get("type") == "Title" and doc.block(index):
            sections.append(_Section(index, [index], doc.section_path(index)))
        elif sections:
            sections[-1].indices.append(index)
        else:
            sections.append(_Section(None, [index], list(element.get("heading_path") or [])))
    for section in sections:
        section.size = len(doc.joined(section.indices))
    return [section for section in sections if section.size]


def _groups(sections: list[_Section], chunk_size: int) -> list[list[_Section]]:
    groups: list[list[_Section]] = []
    for section in sections:
        if groups and _fits_with(groups[-1], section, chunk_size):
            groups[-1].append(section)
        else:
            groups.append([section])
    return groups


def _fits_with(group: list[_Section], section: _Section, chunk_size: int) -> bool:
    head = group[0]
    if head.title is None or section.title is None:
        return False  # the text before the first heading stays on its own: every other chunk starts with one
    # Sections share the first one's parent heading; a top-level section only takes its own sub-sections.
    scope = head.path[:-1] or head.path
    size = sum(member.size for member in group) + len(ELEMENT_JOINER) * len(group) + section.size
    return section.path[: len(scope)] == scope and size <= chunk_size


def _common_prefix(paths: list[list[str]]) -> list[str]:
    prefix = list(paths[0])
    for path in paths[1:]:
        length = 0
        while length < min(len(prefix), len(path)) and prefix[length] == path[length]:
            length += 1
        prefix = prefix[:length]
    return prefix
