"""Documents to structured text blocks: the first step of knowledge-base ingestion.

``parse(path, filename)`` detects the format from the extension and the first bytes
(``detect``: both must agree) and returns ``Block`` objects in reading order, each with a
location for citations. A library per format, each well kept and chosen for one reason:

- PDF: pypdf, pure Python (no system poppler/mupdf), reads the text layer page by page
  and tells an encrypted file from a broken one;
- DOCX: python-docx, the body in order (paragraphs and tables interleaved) with styles;
- PPTX: python-pptx, slides with their title placeholder, text frames, tables, notes;
- XLSX: openpyxl in read-only mode, which streams rows instead of loading the workbook;
- HTML: beautifulsoup4 on lxml, lenient with real-world markup and fast;
- Markdown: markdown-it-py, a CommonMark tokenizer whose tokens keep the structure;
- CSV: the standard library (``csv.Sniffer`` for the dialect); JSON: the standard library;
- text decoding: charset-normalizer, when the bytes are not UTF-8.

Every failure is a ``DocumentError`` (422) naming the file and the reason: unsupported
type, empty (including a PDF without a text layer), corrupt, encrypted, too large, or a
``DocumentLimitExceeded`` past one of the ``limits`` (``knowledge.limits``): the cheap
checks of ``knowledge.guards`` run first, the readers count pages, rows and slides, and
the characters of every block are counted here.

This runs inside a parser process (``knowledge.sandbox``), never in the server: the
libraries above are large and C-backed, and the operating system's limits around that
process are what bounds a document no check foresaw.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path, PurePath

from workhorse.errors import DocumentLimitExceeded, DocumentTooLarge, EmptyDocument
from workhorse.knowledge.blocks import Block, BlockKind
from workhorse.knowledge.detect import Format, detect
from workhorse.knowledge.formats.excel import read_xlsx
from workhorse.knowledge.formats.jsondoc import read_json, read_json_lines
from workhorse.knowledge.formats.markdown import read_markdown
from workhorse.knowledge.formats.pdf import read_pdf
from workhorse.knowledge.formats.powerpoint import read_pptx
from workhorse.knowledge.formats.tabular import read_csv
from workhorse.knowledge.formats.text import decode_text, read_code, read_plain_text
from workhorse.knowledge.formats.webpage import read_html
from workhorse.knowledge.formats.word import read_docx
from workhorse.knowledge.guards import check_html, check_lines
from workhorse.knowledge.limits import DocumentLimits, Tally, size_words

__all__ = ["Block", "BlockKind", "parse"]

_HEAD_BYTES = 8192
_SURROGATE = re.compile("[\ud800-\udfff]")
_LINE_FORMATS = frozenset({"markdown", "csv", "jsonl", "code", "text"})
"""Text formats read line by line (JSON and HTML are often one long line, legitimately)."""
_MAX_BYTES_PER_CHAR = 4
"""UTF-8 (and UTF-32) spend at most 4 bytes on a character."""


def parse(path: Path, filename: str, *, limits: DocumentLimits | None = None) -> list[Block]:
    """The blocks of the file at ``path``, uploaded as ``filename`` (whose extension counts).

    Raises ``DocumentTooLarge`` past ``limits.max_bytes``, ``DocumentLimitExceeded`` past
    any other limit, ``EmptyDocument`` when there is no text at all, and
    ``UnsupportedFileType``, ``CorruptDocument`` or ``EncryptedDocument`` as the file
    deserves; every message names ``filename`` and says why.
    """
    limits = limits or DocumentLimits()
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise DocumentTooLarge(
            f"{filename} is {size_words(size)}, over the limit of {size_words(limits.max_bytes)}"
        )
    if size == 0:
        raise EmptyDocument(f"{filename} is empty (0 bytes)")
    with path.open("rb") as file:
        head = file.read(_HEAD_BYTES)
    fmt = detect(path, filename, head, limits)
    characters = Tally(filename, limits.max_chars, "characters of text", "parse_max_chars")
    blocks = []
    for block in _read(fmt, path, filename, limits):
        if block.text.strip():
            characters.add(len(block.text))
            if _SURROGATE.search(block.text):
                # A lone surrogate (JSON's "\ud83d", a PDF's broken CMap) cannot be
                # encoded, stored or sent: it is replaced, as a decoder would.
                block = replace(block, text=_SURROGATE.sub("\ufffd", block.text))
            blocks.append(block)
    if not blocks:
        raise EmptyDocument(f"{filename} contains no text")
    return blocks


def _read(fmt: Format, path: Path, filename: str, limits: DocumentLimits) -> list[Block]:
    if fmt == "pdf":
        return read_pdf(path, filename, max_pages=limits.max_pages)
    if fmt == "docx":
        return read_docx(path, filename)
    if fmt == "pptx":
        return read_pptx(path, filename, max_slides=limits.max_slides)
    if fmt == "xlsx":
        return read_xlsx(path, filename, max_rows=limits.max_rows)
    if fmt in _LINE_FORMATS:
        check_lines(path, filename, limits.max_line_bytes)
    if path.stat().st_size > _MAX_BYTES_PER_CHAR * limits.max_chars:
        raise DocumentLimitExceeded(
            f"{filename} has more than {limits.max_chars:,} characters of text"
            " (limit: WORKHORSE_PARSE_MAX_CHARS)"
        )
    text = decode_text(path.read_bytes(), filename)
    if not text.strip():
        raise EmptyDocument(f"{filename} contains no text (only whitespace)")
    if fmt == "html":
        # Not Markdown: markdown-it builds no tree of inline HTML, and prose about
        # List<String> or <!ENTITY> is fine there.
        check_html(text, filename, limits.max_depth)
        return read_html(text)
    if fmt == "markdown":
        return read_markdown(text)
    if fmt == "csv":
        tabs = PurePath(filename).suffix.lower() == ".tsv"
        return read_csv(text, filename, tabs=tabs, max_rows=limits.max_rows)
    if fmt == "json":
        return read_json(text, filename, max_depth=limits.max_depth)
    if fmt == "jsonl":
        return read_json_lines(text, filename, max_depth=limits.max_depth)
    if fmt == "code":
        return read_code(text)
    return read_plain_text(text)
