"""Which reader a file goes to: its extension and its first bytes must agree.

The extension says what the uploader meant; the content says what the file is. Neither is
trusted alone: a ``.docx`` that is not a zip archive is corrupt, a ``.txt`` holding a PDF
is refused with a hint to rename it, a ``.bin`` is unsupported whatever it holds. A name
without an extension (``README``, ``LICENSE``) is read by its content alone.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path, PurePath
from typing import Literal

from workhorse.errors import CorruptDocument, EncryptedDocument, UnsupportedFileType
from workhorse.knowledge.guards import check_zip
from workhorse.knowledge.limits import DocumentLimits

Format = Literal[
    "pdf", "docx", "pptx", "xlsx", "html", "markdown", "csv", "json", "jsonl", "text", "code"
]

DOCUMENT_EXTENSIONS: dict[str, Format] = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".pptx": "pptx",
    ".xlsx": "xlsx",
}
TEXT_EXTENSIONS: dict[str, Format] = {
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".txt": "text",
    ".text": "text",
    ".log": "text",
    ".rst": "text",
}
CODE_EXTENSIONS = frozenset(
    [
        ".py",
        ".pyi",
        ".js",
        ".mjs",
        ".cjs",
        ".jsx",
        ".ts",
        ".tsx",
        ".java",
        ".kt",
        ".kts",
        ".scala",
        ".go",
        ".rs",
        ".c",
        ".h",
        ".cc",
        ".cpp",
        ".cxx",
        ".hpp",
        ".hh",
        ".cs",
        ".swift",
        ".m",
        ".rb",
        ".php",
        ".pl",
        ".lua",
        ".r",
        ".dart",
        ".sh",
        ".bash",
        ".zsh",
        ".ps1",
        ".sql",
        ".css",
        ".scss",
        ".less",
        ".vue",
        ".svelte",
        ".proto",
        ".graphql",
        ".tf",
        ".yaml",
        ".yml",
        ".toml",
        ".ini",
        ".cfg",
        ".conf",
        ".xml",
    ]
)
CODE_FILENAMES = frozenset({"dockerfile", "makefile", "jenkinsfile", "vagrantfile"})

LEGACY_HINTS = {
    ".doc": "legacy Word (.doc) files are not supported; save it as .docx",
    ".xls": "legacy Excel (.xls) files are not supported; save it as .xlsx",
    ".ppt": "legacy PowerPoint (.ppt) files are not supported; save it as .pptx",
}

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# (signature, what the content is) for binary files no reader takes.
_FOREIGN_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x7fELF", "an ELF executable"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"RIFF", "a RIFF media file"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\xca\xfe\xba\xbe", "a Java class or Mach-O executable"),
)
_PLAIN_ZIP = "a zip archive that is not a DOCX, PPTX or XLSX file"
_READABLE: dict[str, Format] = {"pdf": "pdf", "docx": "docx", "pptx": "pptx", "xlsx": "xlsx"}
_OOXML_NAMES = {
    "docx": "a DOCX document",
    "pptx": "a PPTX presentation",
    "xlsx": "an XLSX workbook",
}


def supported_types() -> str:
    """The supported extensions, for error messages."""
    documents = " ".join(DOCUMENT_EXTENSIONS)
    text = " ".join(TEXT_EXTENSIONS)
    code = " ".join(sorted(CODE_EXTENSIONS))
    return f"documents {documents}; text {text}; source code {code}"


def detect(path: Path, filename: str, head: bytes, limits: DocumentLimits) -> Format:
    """The format of ``path`` (uploaded as ``filename``), whose first bytes are ``head``;
    a zip archive is checked against ``limits`` before anything else reads it."""
    name = PurePath(filename)
    ext = name.suffix.lower()
    label = ext[1:].upper() if ext in DOCUMENT_EXTENSIONS else "Office"
    content = _sniff(path, filename, head, label, limits)
    if ext in DOCUMENT_EXTENSIONS:
        claimed = DOCUMENT_EXTENSIONS[ext]
        if content == claimed:
            return claimed
        if content is None or (content == _PLAIN_ZIP and claimed != "pdf"):
            raise CorruptDocument(
                f"{filename} is not a valid {label} file ({_container_fault(claimed)})"
            )
        raise UnsupportedFileType(_mismatch(filename, label, content))
    text_format: Format | None = TEXT_EXTENSIONS.get(ext)
    if text_format is None and (ext in CODE_EXTENSIONS or name.name.lower() in CODE_FILENAMES):
        text_format = "code"
    if text_format is None and ext:
        hint = LEGACY_HINTS.get(ext, f"supported: {supported_types()}")
        raise UnsupportedFileType(f"{filename}: unsupported file type {ext}; {hint}")
    if text_format is None:
        # No extension: the content decides.
        if content is None:
            return "text"
        if content in _READABLE:
            return _READABLE[content]
        raise UnsupportedFileType(f"{filename}: unsupported file type: the content is {content}")
    if content is not None:
        raise UnsupportedFileType(_mismatch(filename, "text", content))
    return text_format


def _mismatch(filename: str, claimed: str, content: str) -> str:
    description = _OOXML_NAMES.get(content, "a PDF document" if content == "pdf" else content)
    return (
        f"{filename}: the extension says {claimed} but the content is {description};"
        " upload it with the extension that matches its content"
    )


def _container_fault(claimed: Format) -> str:
    if claimed == "pdf":
        return "no %PDF- header"
    if claimed == "docx":
        return "not a zip archive holding word/document.xml"
    if claimed == "pptx":
        return "not a zip archive holding ppt/presentation.xml"
    return "not a zip archive holding xl/workbook.xml"


def _sniff(
    path: Path, filename: str, head: bytes, label: str, limits: DocumentLimits
) -> str | None:
    """What the first bytes say: a format of ours, a description of a foreign binary,
    or ``None`` (no known signature: text, or garbage the text decoder will judge)."""
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _ooxml_kind(path, filename, label, limits)
    if head.startswith(_OLE2):
        if "EncryptedPackage".encode("utf-16-le") in path.read_bytes():
            # Password-protected DOCX/XLSX/PPTX are stored inside an OLE2 compound file.
            raise EncryptedDocument(
                f"{filename} is encrypted (password-protected Office file);"
                " upload it without a password"
            )
        return "a legacy Microsoft Office (.doc/.xls/.ppt) file"
    if _is_windows_executable(head):
        return "a Windows executable"
    if head[4:8] == b"ftyp":
        return "an MP4/QuickTime media file"
    for magic, description in _FOREIGN_MAGIC:
        if head.startswith(magic):
            return description
    return None


def _is_windows_executable(head: bytes) -> bool:
    if not head.startswith(b"MZ") or len(head) < 64:
        return False
    pe_offset = int.from_bytes(head[0x3C:0x40], "little")
    return head[pe_offset : pe_offset + 4] == b"PE\x00\x00" or b"DOS mode" in head[:512]


def _ooxml_kind(path: Path, filename: str, label: str, limits: DocumentLimits) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            check_zip(archive, filename, limits)
            names = set(archive.namelist())
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,
        zlib.error,
        OSError,
    ) as exc:
        # NotImplementedError: a compression method zipfile does not inflate; OSError: a
        # directory whose offsets point before the start of the file.
        raise CorruptDocument(f"{filename} is not a valid {label} file (bad zip archive)") from exc
    for kind, main_part in (
        ("docx", "word/document.xml"),
        ("pptx", "ppt/presentation.xml"),
        ("xlsx", "xl/workbook.xml"),
    ):
        if main_part in names:
            return kind
    return _PLAIN_ZIP
