"""HTML (BeautifulSoup on lxml): headings, paragraphs, list items, pre, table rows."""

from __future__ import annotations

import warnings

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, XMLParsedAsHTMLWarning
from bs4.element import Comment, Declaration, Doctype, NavigableString, ProcessingInstruction, Tag

from workhorse.knowledge.blocks import Block, BlockKind, HeadingPath, squash

_DROPPED = frozenset(
    {"script", "style", "nav", "noscript", "template", "svg", "head", "iframe", "canvas"}
)
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_LEAVES = frozenset(
    {"p", "li", "dt", "dd", "blockquote", "figcaption", "caption", "summary", "address"}
)
_BLOCKY = frozenset(
    {"p", "div", "ul", "ol", "dl", "table", "pre", "section", "article", "blockquote", "form"}
    | _HEADINGS.keys()
)
_INLINE = frozenset(
    [
        "a",
        "abbr",
        "b",
        "bdi",
        "bdo",
        "cite",
        "code",
        "data",
        "dfn",
        "em",
        "i",
        "kbd",
        "label",
        "mark",
        "q",
        "s",
        "samp",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "time",
        "u",
        "var",
        "wbr",
        "del",
        "ins",
        "font",
    ]
)
_SKIPPED_STRINGS = (Comment, Declaration, Doctype, ProcessingInstruction)


def read_html(text: str) -> list[Block]:
    """Blocks in document order, located by the section (``h1``-``h6``) they are in."""
    with warnings.catch_warnings():
        # Short markup that looks like a file name or URL, and XHTML, are still HTML here.
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(text, "lxml")
    for br in soup.find_all("br"):
        br.replace_with("\n")
    walker = _Walker()
    walker.walk(soup)
    walker.flush()
    return walker.blocks


class _Walker:
    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.sections = HeadingPath()
        self.inline: list[str] = []

    def emit(self, text: str, kind: BlockKind, level: int = 0) -> None:
        if text:
            self.blocks.append(Block(text, kind, self.sections.location, level))

    def flush(self) -> None:
        self.emit(squash("".join(self.inline)), "paragraph")
        self.inline = []

    def walk(self, node: Tag) -> None:
        for child in node.children:
            if isinstance(child, _SKIPPED_STRINGS):
                continue
            if isinstance(child, NavigableString):
                self.inline.append(str(child))
            elif isinstance(child, Tag):
                self.element(child)

    def element(self, tag: Tag) -> None:
        name = tag.name
        if name in _DROPPED:
            return
        if name in _INLINE:
            self.walk(tag)
            return
        self.flush()
        if name in _HEADINGS:
            title = squash(tag.get_text())
            if title:
                self.sections.enter(_HEADINGS[name], title)
                self.emit(title, "heading", _HEADINGS[name])
        elif name == "pre":
            self.emit(tag.get_text().strip("\n"), "code")
        elif name == "tr":
            cells = [
                squash(cell.get_text()) for cell in tag.find_all(["td", "th"], recursive=False)
            ]
            if any(cells):
                self.emit(" | ".join(cells), "table_row")
        elif name in _LEAVES and tag.find(_BLOCKY) is None:
            text = squash(tag.get_text())
            self.emit(f"- {text}" if name == "li" and text else text, "paragraph")
        else:
            self.walk(tag)
            self.flush()
