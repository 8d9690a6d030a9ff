"""Markdown (markdown-it-py tokens): headings, paragraphs, list items, fenced code, tables."""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.token import Token

from workhorse.knowledge.blocks import Block, HeadingPath, squash
from workhorse.knowledge.formats.webpage import read_html


def read_markdown(text: str) -> list[Block]:
    """Blocks located by the section (``#`` headings) they are in."""
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    blocks: list[Block] = []
    sections = HeadingPath()
    # Per open list: its next item number (None for bullets); the marker for the next
    # paragraph of the current item.
    lists: list[int | None] = []
    marker = ""
    row: list[str] | None = None
    heading_level = 0
    for token in tokens:
        kind = token.type
        if kind == "heading_open":
            heading_level = int(token.tag[1:])
        elif kind == "heading_close":
            heading_level = 0
        elif kind in ("bullet_list_open", "ordered_list_open"):
            lists.append(int(token.attrs.get("start", 1)) if kind == "ordered_list_open" else None)
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif kind == "list_item_open":
            number = lists[-1] if lists else None
            marker = "- " if number is None else f"{number}. "
            if number is not None:
                lists[-1] = number + 1
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close" and row is not None:
            if any(row):
                blocks.append(Block(" | ".join(row), "table_row", sections.location))
            row = None
        elif kind == "inline":
            content = _inline_text(token)
            if row is not None:
                row.append(squash(content))
            elif heading_level:
                title = squash(content)
                if title:
                    sections.enter(heading_level, title)
                    blocks.append(Block(title, "heading", sections.location, heading_level))
            elif content.strip():
                blocks.append(Block(marker + content.strip(), "paragraph", sections.location))
                marker = ""
        elif kind in ("fence", "code_block") and token.content.strip():
            blocks.append(Block(token.content.strip("\n"), "code", sections.location))
        elif kind == "html_block":
            for block in read_html(token.content):
                if block.kind == "heading":
                    sections.enter(block.level, block.text)
                blocks.append(Block(block.text, block.kind, sections.location, block.level))
    return blocks


def _inline_text(token: Token) -> str:
    """The plain text of an inline token: markup dropped, image alt text kept."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content)
    return "".join(parts)
