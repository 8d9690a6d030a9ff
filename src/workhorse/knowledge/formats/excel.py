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

from workhorse.knowledge.blocks import Block
from workhorse.knowledge.formats.office import MALFORMED, malformed
from workhorse.knowledge.formats.tabular import row_blocks
from workhorse.knowledge.limits import Tally

_ERRORS: tuple[type[Exception], ...] = (InvalidFileException, *MALFORMED)


def read_xlsx(path: Path, filename: str, *, max_rows: int) -> list[Block]:
    """Rows located by ``"sheet Sales, row 14"`` (the spreadsheet's own row numbers); past
    ``max_rows`` rows with values, in all sheets together, the workbook is refused."""
    # A file object, not the path: openpyxl refuses paths without an Excel extension, and
    # stored files are named by their hash.
    with path.open("rb") as stream:
        return _read(stream, filename, Tally(filename, max_rows, "rows", "parse_max_rows"))


def _read(stream: BinaryIO, filename: str, rows_read: Tally) -> list[Block]:
    try:
        # read_only streams rows; data_only gives the cached values of formulas.
        workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    except _ERRORS as exc:
        raise malformed(filename, "XLSX", exc) from exc
    try:
        blocks: list[Block] = []
        for sheet in workbook.worksheets:
            # read_only=True opens every worksheet as a ReadOnlyWorksheet.
            assert isinstance(sheet, ReadOnlyWorksheet)
            rows = []
            for row in row_blocks(_rows(sheet), _RowLocation(sheet.title)):
                rows_read.add()
                rows.append(row)
            if rows:
                blocks.append(Block(sheet.title, "heading", f"sheet {sheet.title}", 1))
                blocks.extend(rows)
        return blocks
    except _ERRORS as exc:
        raise malformed(filename, "XLSX", exc) from exc
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
