"""Rows of a table (CSV, XLSX sheets) as blocks, with header-aware "Header: value" text."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

from workhorse.errors import CorruptDocument
from workhorse.knowledge.blocks import Block
from workhorse.knowledge.limits import Tally

_MAX_HEADER_CELL = 64
_SNIFF_CHARS = 64 * 1024


def looks_like_header(cells: list[str]) -> bool:
    """A heuristic: at least two labels, all distinct, short, one line, none a number."""
    labels = [cell for cell in cells if cell]
    return (
        len(labels) >= 2
        and len(set(labels)) == len(labels)
        and all(len(c) <= _MAX_HEADER_CELL and "\n" not in c and not _is_number(c) for c in labels)
    )


def row_blocks(
    rows: Iterable[tuple[int, list[str]]], location: Callable[[int], str]
) -> Iterator[Block]:
    """One ``table_row`` block per non-empty ``(row number, cells)``.

    When the first non-empty row looks like a header (and more rows follow), every later
    row reads ``"Name: Ada | Role: Engineer"`` and the header row itself is not repeated.
    """
    header: list[str] | None = None
    first: tuple[int, list[str]] | None = None
    seen_first = False
    for number, raw in rows:
        cells = [cell.strip() for cell in raw]
        if not any(cells):
            continue
        if not seen_first:
            seen_first = True
            first = (number, cells)
            continue
        if first is not None:
            if looks_like_header(first[1]):
                header = first[1]
            else:
                yield Block(_plain(first[1]), "table_row", location(first[0]))
            first = None
        text = _with_header(header, cells) if header else _plain(cells)
        yield Block(text, "table_row", location(number))
    if first is not None:
        yield Block(_plain(first[1]), "table_row", location(first[0]))


def read_csv(text: str, filename: str, *, tabs: bool, max_rows: int) -> list[Block]:
    """CSV or TSV text, its delimiter sniffed (``tabs`` breaks ties toward tabs); past
    ``max_rows`` rows with values it is refused."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text, tabs=tabs))
    rows = Tally(filename, max_rows, "rows", "parse_max_rows")
    blocks = []
    try:
        for block in row_blocks(enumerate(reader, start=1), lambda n: f"row {n}"):
            rows.add()
            blocks.append(block)
        return blocks
    except csv.Error as exc:
        raise CorruptDocument(
            f"{filename} is not a valid CSV file (line {reader.line_num}: {exc})"
        ) from exc


def _delimiter(text: str, *, tabs: bool) -> str:
    """The candidate that splits the first rows most consistently into several fields.

    ``csv.Sniffer`` guesses from character frequencies and is fooled by delimiters inside
    quoted fields; parsing a sample with each candidate is not.
    """
    sample = text[:_SNIFF_CHARS]
    if len(text) > _SNIFF_CHARS:
        sample = sample[: sample.rfind("\n") + 1] or sample  # whole lines only
    candidates = ("\t", ",", ";", "|") if tabs else (",", ";", "\t", "|")
    best, best_score = candidates[0], (0.0, 0)
    for delimiter in candidates:
        try:
            widths = [
                len(row)
                for row in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
                if row
            ]
        except csv.Error:
            continue
        if not widths:
            continue
        common = Counter(widths).most_common(1)[0]
        if common[0] < 2:
            continue
        score = (common[1] / len(widths), common[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _plain(cells: list[str]) -> str:
    while cells and not cells[-1]:
        cells = cells[:-1]
    return " | ".join(cells)


def _with_header(header: list[str], cells: list[str]) -> str:
    pairs = []
    for column, value in enumerate(cells):
        if not value:
            continue
        label = header[column] if column < len(header) else ""
        pairs.append(f"{label}: {value}" if label else value)
    return " | ".join(pairs)


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True
