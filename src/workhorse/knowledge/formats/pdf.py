"""PDF: the text layer of each page (pypdf), paragraphs located by ``"page N"``."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError, PyPdfError

from workhorse.errors import (
    CorruptDocument,
    DocumentLimitExceeded,
    EmptyDocument,
    EncryptedDocument,
)
from workhorse.knowledge.blocks import Block
from workhorse.knowledge.limits import exceeded

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# pypdf raises its own errors for most malformed files, but broken object graphs and
# streams surface as builtin errors from deeper down.
_MALFORMED: tuple[type[Exception], ...] = (
    PyPdfError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    zlib.error,
)
# DependencyError: an algorithm pypdf cannot run here; the file stays unreadable.
_UNDECRYPTABLE: tuple[type[Exception], ...] = (DependencyError, *_MALFORMED)


def read_pdf(path: Path, filename: str, *, max_pages: int) -> list[Block]:
    """The text of every page; a PDF whose pages have no text at all is ``EmptyDocument``,
    one of more than ``max_pages`` pages is refused before any page is read."""
    try:
        reader = PdfReader(path)
    except _MALFORMED as exc:
        raise CorruptDocument(f"{filename} is not a valid PDF file ({_reason(exc)})") from exc
    if reader.is_encrypted:
        _decrypt_without_password(reader, filename)
    try:
        pages = reader.pages
        page_count = len(pages)
    except FileNotDecryptedError as exc:
        raise _encrypted(filename) from exc
    except _MALFORMED as exc:
        raise CorruptDocument(f"{filename} is not a valid PDF file ({_reason(exc)})") from exc
    if page_count > max_pages:
        raise exceeded(filename, max_pages, "pages", "parse_max_pages")
    blocks: list[Block] = []
    for number in range(1, page_count + 1):
        try:
            text = pages[number - 1].extract_text()
        except LimitReachedError as exc:
            raise DocumentLimitExceeded(
                f"{filename}: page {number} inflates past pypdf's decompression limit"
                " (a flate bomb)"
            ) from exc
        except _MALFORMED as exc:
            raise CorruptDocument(
                f"{filename}: page {number} cannot be read ({_reason(exc)})"
            ) from exc
        for paragraph in _PARAGRAPH_BREAK.split(text):
            if paragraph.strip():
                blocks.append(Block(paragraph.strip(), "text", f"page {number}"))
    if not blocks:
        pages_word = "page" if page_count == 1 else "pages"
        raise EmptyDocument(
            f"{filename} has no text layer ({page_count} {pages_word}, no extractable text;"
            " a scanned PDF?); run OCR on it and upload the result"
        )
    return blocks


def _decrypt_without_password(reader: PdfReader, filename: str) -> None:
    """Many PDFs are encrypted with an empty user password (only an owner password that
    restricts printing or copying): those are readable; anything else is refused."""
    try:
        result = reader.decrypt("")
    except _UNDECRYPTABLE as exc:
        raise _encrypted(filename) from exc
    if result == PasswordType.NOT_DECRYPTED:
        raise _encrypted(filename)


def _encrypted(filename: str) -> EncryptedDocument:
    return EncryptedDocument(f"{filename} is encrypted; upload it without a password")


def _reason(exc: Exception) -> str:
    detail = str(exc).strip()
    return f"{type(exc).__name__}: {detail[:200]}" if detail else type(exc).__name__
