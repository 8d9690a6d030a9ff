"""PPTX (python-pptx): per slide, the title as a heading, then text frames, tables, notes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pptx
from pptx.exc import PackageNotFoundError
from pptx.shapes.base import BaseShape
from pptx.shapes.graphfrm import GraphicFrame
from pptx.shapes.group import GroupShape
from pptx.slide import Slide

from workhorse.knowledge.blocks import Block, squash
from workhorse.knowledge.formats.office import MALFORMED, malformed
from workhorse.knowledge.limits import exceeded

_ERRORS: tuple[type[Exception], ...] = (PackageNotFoundError, *MALFORMED)


def read_pptx(path: Path, filename: str, *, max_slides: int) -> list[Block]:
    """Every slide's text, located by ``"slide N"`` (notes: ``"slide N notes"``); more than
    ``max_slides`` slides are refused before any is read."""
    try:
        presentation = pptx.Presentation(str(path))
        if len(presentation.slides) > max_slides:
            raise exceeded(filename, max_slides, "slides", "parse_max_slides")
        blocks: list[Block] = []
        for number, slide in enumerate(presentation.slides, start=1):
            blocks.extend(_slide_blocks(slide, f"slide {number}"))
        return blocks
    except _ERRORS as exc:
        raise malformed(filename, "PPTX", exc) from exc


def _slide_blocks(slide: Slide, where: str) -> Iterator[Block]:
    title = slide.shapes.title
    if title is not None and title.has_text_frame and title.text_frame.text.strip():
        yield Block(squash(title.text_frame.text), "heading", where, 1)
    rows = 0
    for shape in _shapes(slide.shapes):
        if title is not None and shape.shape_id == title.shape_id:
            continue
        if shape.has_text_frame:
            text = "\n".join(
                paragraph_text
                for paragraph in shape.text_frame.paragraphs  # type: ignore[attr-defined]
                if (paragraph_text := squash(paragraph.text))
            )
            if text:
                yield Block(text, "paragraph", where)
        elif isinstance(shape, GraphicFrame) and shape.has_table:
            for row in shape.table.rows:
                cells = [squash(cell.text) for cell in row.cells]
                if any(cells):
                    rows += 1
                    yield Block(" | ".join(cells), "table_row", f"{where}, table row {rows}")
    if slide.has_notes_slide:
        notes = slide.notes_slide.notes_text_frame
        if notes is not None and notes.text.strip():
            yield Block(notes.text.strip(), "paragraph", f"{where} notes")


def _shapes(shapes: Iterable[BaseShape]) -> Iterator[BaseShape]:
    """Shapes in order, groups opened."""
    for shape in shapes:
        if isinstance(shape, GroupShape):
            yield from _shapes(shape.shapes)
        else:
            yield shape
