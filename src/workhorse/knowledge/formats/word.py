"""DOCX (python-docx): headings by style give the section path; tables give one block per row."""

from __future__ import annotations

import re
from pathlib import Path

import docx
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph

from workhorse.knowledge.blocks import Block, HeadingPath, squash
from workhorse.knowledge.formats.office import MALFORMED, malformed

_HEADING_STYLE = re.compile(r"Heading ?(\d)")
_ERRORS: tuple[type[Exception], ...] = (PackageNotFoundError, *MALFORMED)


def read_docx(path: Path, filename: str) -> list[Block]:
    """Paragraphs and table rows in body order, located by the section they are in."""
    try:
        return _read(path)
    except _ERRORS as exc:
        raise malformed(filename, "DOCX", exc) from exc


def _read(path: Path) -> list[Block]:
    document = docx.Document(str(path))
    blocks: list[Block] = []
    sections = HeadingPath()
    tables = 0
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            text = item.text.strip()
            if not text:
                continue
            level = _heading_level(item)
            if level:
                sections.enter(level, squash(text))
                blocks.append(Block(squash(text), "heading", sections.location, level))
            else:
                blocks.append(Block(text, "paragraph", sections.location))
        else:
            tables += 1
            blocks.extend(_table_rows(item, tables, sections.location))
    return blocks


def _heading_level(paragraph: Paragraph) -> int:
    style = paragraph.style
    if style is None:
        return 0
    for name in (style.name or "", style.style_id or ""):
        if name == "Title":
            return 1
        match = _HEADING_STYLE.fullmatch(name)
        if match:
            return int(match.group(1))
    return 0


def _table_rows(table: Table, number: int, section: str | None) -> list[Block]:
    where = f"{section}, table {number}" if section else f"table {number}"
    blocks = []
    for row_number, row in enumerate(table.rows, start=1):
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            # A merged cell is returned once per grid column it spans.
            if previous is not None and cell._tc is previous:
                continue
            previous = cell._tc
            cells.append(squash(cell.text))
        if any(cells):
            blocks.append(Block(" | ".join(cells), "table_row", f"{where}, row {row_number}"))
    return blocks
