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
type, empty (including a PDF without a text layer), corrupt, encrypted, too large.
"""

from __future__ import annotations

from pathlib import Path, PurePath

from workhorse.errors import DocumentTooLarge, EmptyDocument
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

__all__ = ["Block", "BlockKind", "parse"]

_HEAD_BYTES = 8192


def parse(path: Path, filename: str, *, max_bytes: int | None = None) -> list[Block]:
    """The blocks of the file at ``path``, uploaded as ``filename`` (whose extension counts).

    Raises ``DocumentTooLarge`` past ``max_bytes``, ``EmptyDocument`` when there is no
    text at all, and ``UnsupportedFileType``, ``CorruptDocument`` or ``EncryptedDocument``
    as the file deserves; every message names ``filename`` and says why.
    """
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise DocumentTooLarge(f"{filename} is {_size(size)}, over the limit of {_size(max_bytes)}")
    if size == 0:
        raise EmptyDocument(f"{filename} is empty (0 bytes)")
    with path.open("rb") as file:
        head = file.read(_HEAD_BYTES)
    fmt = detect(path, filename, head)
    blocks = [block for block in _read(fmt, path, filename) if block.text.strip()]
    if not blocks:
        raise EmptyDocument(f"{filename} contains no text")
    return blocks


def _read(fmt: Format, path: Path, filename: str) -> list[Block]:
    if fmt == "pdf":
        return read_pdf(path, filename)
    if fmt == "docx":
        return read_docx(path, filename)
    if fmt == "pptx":
        return read_pptx(path, filename)
    if fmt == "xlsx":
        return read_xlsx(path, filename)
    text = decode_text(path.read_bytes(), filename)
    if not text.strip():
        raise EmptyDocument(f"{filename} contains no text (only whitespace)")
    if fmt == "html":
        return read_html(text)
    if fmt == "markdown":
        return read_markdown(text)
    if fmt == "csv":
        return read_csv(text, filename, tabs=PurePath(filename).suffix.lower() == ".tsv")
    if fmt == "json":
        return read_json(text, filename)
    if fmt == "jsonl":
        return read_json_lines(text, filename)
    if fmt == "code":
        return read_code(text)
    return read_plain_text(text)


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count / (1024 * 1024):.1f} MiB"
