"""What the Office readers share: which errors mean a malformed file, and how to say so."""

from __future__ import annotations

import zipfile

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


def reason(exc: Exception) -> str:
    """A short, human reason for a malformed-package error."""
    if isinstance(exc, zipfile.BadZipFile):
        return "bad zip archive"
    if isinstance(exc, SyntaxError):
        return "malformed XML"
    if isinstance(exc, KeyError) and exc.args:
        return f"missing part: {exc.args[0]}"
    detail = str(exc).strip()
    return f"{type(exc).__name__}: {detail[:200]}" if detail else type(exc).__name__
