"""XLSX (openpyxl, read-only): per sheet a heading, then one header-aware block per row."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet._read_only import ReadOnlyWorksheet

from workhorse.errors import CorruptDocument
from workhorse.knowledge.blocks import Block
from workhorse.knowledge.formats.office import MALFORMED, reason
from workhorse.knowledge.formats.tabular import row_blocks

_ERRORS: tuple[type[Exception], ...] = (InvalidFileException, *MALFORMED)


def read_xlsx(path: Path, filename: str) -> list[Block]:
    """Rows located by ``"sheet Sales, row 14"`` (the spreadsheet's own row numbers)."""
    # A file object, not the path: openpyxl refuses paths without an Excel extension, and
    # stored files are named by their hash.
    with path.open("rb") as stream:
        return _read(stream, filename)


def _read(stream: BinaryIO, filename: str) -> list[Block]:
    try:
        # read_only streams rows; data_only gives the cached values of formulas.
        workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    except _ERRORS as exc:
        raise CorruptDocument(f"{filename} is not a valid XLSX file ({reason(exc)})") from exc
    try:
        blocks: list[Block] = []
        for sheet in workbook.worksheets:
            # read_only=True opens every worksheet as a ReadOnlyWorksheet.
            assert isinstance(sheet, ReadOnlyWorksheet)
            rows = list(row_blocks(_rows(sheet), _RowLocation(sheet.title)))
            if rows:
                blocks.append(Block(sheet.title, "heading", f"sheet {sheet.title}", 1))
                blocks.extend(rows)
        return blocks
    except _ERRORS as exc:
        raise CorruptDocument(f"{filename} is not a valid XLSX file ({reason(exc)})") from exc
    finally:
        workbook.close()


@dataclass(frozen=True)
class _RowLocation:
    sheet: str

    def __call__(self, row: int) -> str:
        return f"sheet {self.sheet}, row {row}"


def _rows(sheet: ReadOnlyWorksheet) -> Iterator[tuple[int, list[str]]]:
    for number, values in enumerate(sheet.values, start=sheet.min_row):
        yield number, [_cell_text(value) for value in values]


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value).strip()
