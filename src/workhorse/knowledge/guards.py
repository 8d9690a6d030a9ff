"""Cheap checks before a reader parses a file: what can be judged without parsing it.

- Zip-based formats (DOCX, PPTX, XLSX): the inflated size of every part and of all parts
  together, and each part's compression ratio, from the archive's directory. Python's
  ``zipfile`` never inflates a part past the size its directory declares (a part that
  lies fails its CRC check), so these bound what the readers can be handed. No XML part
  may declare a DOCTYPE or entities: OOXML never does, so one that does is an attack
  (billion laughs, external entities), refused before lxml or ElementTree sees it.
- Text formats: the longest line, streamed from the file before it is decoded, so a
  500 MB line is refused after reading the first MiB of it.
- HTML: no entity declarations, and a bound on element nesting (see ``html_depth``).

JSON nesting is bounded where it is read (``formats.jsondoc``), PDF pages, XLSX rows and
PPTX slides where they are counted (their readers), characters in ``parse``.
"""

from __future__ import annotations

import codecs
import re
import zipfile
from pathlib import Path

from workhorse.errors import DocumentLimitExceeded
from workhorse.knowledge.limits import COMPRESSION_RATIO_FLOOR, DocumentLimits, size_words

MAX_ZIP_PARTS = 10_000
"""Parts a DOCX, PPTX or XLSX archive may have (a real one has tens to a few thousand)."""

XML_PROLOG_BYTES = 64 * 1024
"""How far into an XML part the root element must start (the prolog is read for a DTD)."""

_SNIFF_BYTES = 16
# Comments and processing instructions, an unterminated one running to the end (a lazy
# scan to a terminator that never comes would make every "<" cost the rest of the input).
_MARKUP_ASIDE = re.compile(rb"<!--.*?(?:-->|\Z)|<\?.*?(?:\?>|\Z)", re.DOTALL)
_ROOT_START = re.compile(rb"<[A-Za-z_:]")
_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)")
# XML's own encoding detection (XML 1.0, appendix F): a BOM, or the bytes of "<" or "<?".
_ENCODINGS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (b"<\0\0\0", "utf-32-le"),
    (b"\0\0\0<", "utf-32-be"),
    (b"<\0", "utf-16-le"),
    (b"\0<", "utf-16-be"),
)


def check_zip(archive: zipfile.ZipFile, filename: str, limits: DocumentLimits) -> None:
    """Refuse an Office archive that inflates too far, too steeply, or carries a DTD."""
    infos = archive.infolist()
    if len(infos) > MAX_ZIP_PARTS:
        raise DocumentLimitExceeded(
            f"{filename} is a zip archive of {len(infos):,} parts (at most {MAX_ZIP_PARTS:,})"
        )
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > limits.max_member_bytes:
            raise DocumentLimitExceeded(
                f"{filename}: its part {info.filename} inflates to"
                f" {size_words(info.file_size)}, over the limit of"
                f" {size_words(limits.max_member_bytes)} (WORKHORSE_PARSE_MAX_MEMBER_BYTES)"
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > COMPRESSION_RATIO_FLOOR and ratio > limits.max_compression_ratio:
            raise DocumentLimitExceeded(
                f"{filename}: its part {info.filename} inflates {ratio:,.0f} times"
                f" ({size_words(info.compress_size)} to {size_words(info.file_size)}), over"
                f" the limit of {limits.max_compression_ratio:g}"
                " (WORKHORSE_PARSE_MAX_COMPRESSION_RATIO): a zip bomb"
            )
    if total > limits.max_unzipped_bytes:
        raise DocumentLimitExceeded(
            f"{filename} inflates to {size_words(total)} when unzipped, over the limit of"
            f" {size_words(limits.max_unzipped_bytes)} (WORKHORSE_PARSE_MAX_UNZIPPED_BYTES)"
        )
    for info in infos:
        # Every part that is XML, whatever its name; an encrypted one (flag bit 0)
        # cannot be read here, and its reader refuses it.
        if not info.flag_bits & 0x1 and not info.is_dir():
            with archive.open(info) as part:
                first = part.read(_SNIFF_BYTES)  # images and binaries stop here
                if _looks_like_xml(first):
                    head = first + part.read(XML_PROLOG_BYTES - len(first))
                    _check_prolog(head, filename, info.filename)


def _looks_like_xml(first: bytes) -> bool:
    if any(first.startswith(mark) for mark, _ in _ENCODINGS):
        return True
    rest = first.lstrip(b" \t\r\n\xef\xbb\xbf")
    return not rest or rest.startswith(b"<")  # only whitespace so far: read on


def _check_prolog(head: bytes, filename: str, part: str) -> None:
    """Refuse an XML part whose prolog holds a DTD (a part that is no XML is let be)."""
    window_full = len(head) == XML_PROLOG_BYTES
    for mark, encoding in _ENCODINGS:
        if head.startswith(mark):
            head = head.decode(encoding, errors="replace").encode()
            break
    start = head.lstrip(b" \t\r\n\xef\xbb\xbf")  # whitespace, a UTF-8 BOM
    if not start.startswith(b"<"):
        return  # an image, a binary part
    text = _MARKUP_ASIDE.sub(b"", start)
    if _DTD.search(text):
        raise DocumentLimitExceeded(
            f"{filename}: its part {part} declares a DOCTYPE or entities, which Office"
            " documents never do (refused unread: entity expansion)"
        )
    if _ROOT_START.search(text) is None and window_full:
        raise DocumentLimitExceeded(
            f"{filename}: its part {part} has no root element in its first"
            f" {size_words(XML_PROLOG_BYTES)}"
        )


def check_lines(path: Path, filename: str, max_line_bytes: int) -> None:
    """Refuse a text file with a line longer than ``max_line_bytes``, reading at most one
    block past that line's start."""
    run = 0  # bytes of the current line so far
    line = 1
    with path.open("rb") as file:
        while block := file.read(1024 * 1024):
            parts = block.split(b"\n")
            lengths = [run + len(parts[0]), *map(len, parts[1:])]
            if max(lengths) > max_line_bytes:
                over = next(i for i, n in enumerate(lengths) if n > max_line_bytes)
                raise DocumentLimitExceeded(
                    f"{filename}: line {line + over:,} is longer than"
                    f" {size_words(max_line_bytes)} (limit: WORKHORSE_PARSE_MAX_LINE_BYTES)"
                )
            line += len(parts) - 1
            run = lengths[-1]


# Elements that never nest (void) or whose end tag HTML lets authors leave out: neither
# adds to the depth estimate, so unclosed <p> and <li> in real pages cost nothing.
_FLAT = frozenset(
    (
        *("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"),
        *("param", "source", "track", "wbr", "basefont", "bgsound", "frame", "keygen"),
        *("p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead", "tbody"),
        *("tfoot", "colgroup", "caption", "rp", "rt", "html", "head", "body"),
    )
)
_HTML_TOKEN = re.compile(
    # Unterminated comments, script bodies and tags run to the end (see _MARKUP_ASIDE).
    r"<!--.*?(?:-->|\Z)|<(script|style|textarea|title)\b.*?(?:</\1\s*>|\Z)"
    r"|<(/?)([A-Za-z][A-Za-z0-9-]*)[^>]*(?:>|\Z)",
    re.DOTALL | re.IGNORECASE,
)
_HTML_ENTITY_DECLARATION = re.compile(r"<!ENTITY", re.IGNORECASE)


def check_html(text: str, filename: str, max_depth: int) -> None:
    """Refuse HTML that declares entities or nests elements deeper than ``max_depth``."""
    if _HTML_ENTITY_DECLARATION.search(text):
        raise DocumentLimitExceeded(
            f"{filename} declares entities (<!ENTITY>), which HTML pages never need"
        )
    if html_depth(text, max_depth) > max_depth:
        raise DocumentLimitExceeded(
            f"{filename} nests elements more than {max_depth:,} deep"
            " (limit: WORKHORSE_PARSE_MAX_DEPTH)"
        )


def html_depth(text: str, stop_above: int) -> int:
    """The nesting depth of ``text``'s elements, estimated from its tags without parsing:
    start tags minus end tags of elements that must be closed, script and style bodies
    skipped. It counts as deep a page that leaves such elements open, as a browser would
    (they stay open). Stops counting once past ``stop_above``."""
    depth = deepest = 0
    for match in _HTML_TOKEN.finditer(text):
        name = match.group(3)
        if name is None or name.lower() in _FLAT or match.group(0).endswith("/>"):
            continue
        if match.group(2):
            depth = max(depth - 1, 0)
        else:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_above:
                    break
    return deepest
