"""What the Office readers share: which errors mean a malformed file, and how to say so."""

from __future__ import annotations

import zipfile
from xml.etree.ElementTree import ParseError
from xml.parsers.expat import errors as expat_errors

from lxml.etree import ErrorTypes, XMLSyntaxError

from workhorse.errors import CorruptDocument

# python-docx, python-pptx and openpyxl report a broken package as a bad zip, malformed
# XML (lxml's XMLSyntaxError and ElementTree's ParseError are both SyntaxError), or
# builtin errors (KeyError for a missing part, ValueError for a bad value).
MALFORMED: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    SyntaxError,
    KeyError,
    ValueError,
    TypeError,
    AttributeError,
    IndexError,
)


def malformed(filename: str, label: str, exc: Exception) -> Exception:
    """What a reader raises for ``exc``: ``CorruptDocument`` with the reason, or
    ``MemoryError`` where the XML parser's error is its way of saying it ran out of
    memory (libxml2 and expat report a failed allocation as a syntax error, with a code
    of its own), so that the file fails for the memory it needed, not as corrupt."""
    # lxml-stubs lack the code attribute XMLSyntaxError has.
    if isinstance(exc, XMLSyntaxError) and getattr(exc, "code", None) == ErrorTypes.ERR_NO_MEMORY:
        return MemoryError(f"{filename}: the XML parser ran out of memory")
    no_memory = expat_errors.codes[expat_errors.XML_ERROR_NO_MEMORY]
    if isinstance(exc, ParseError) and exc.code == no_memory:
        return MemoryError(f"{filename}: the XML parser ran out of memory")
    return CorruptDocument(f"{filename} is not a valid {label} file ({reason(exc)})")


def reason(exc: Exception) -> str:
    """A short, human reason for a malformed-package error."""
    if isinstance(exc, zipfile.BadZipFile):
        return "bad zip archive"
    if isinstance(exc, SyntaxError):
        detail = str(exc.msg or "").strip()
        return f"malformed XML: {detail[:200]}" if detail else "malformed XML"
    if isinstance(exc, KeyError) and exc.args:
        return f"missing part: {exc.args[0]}"
    detail = str(exc).strip()
    return f"{type(exc).__name__}: {detail[:200]}" if detail else type(exc).__name__
