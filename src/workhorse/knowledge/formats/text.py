"""Text decoding, plain text (paragraphs) and source code (blank-line separated blocks)."""

from __future__ import annotations

import codecs
import re

import charset_normalizer

from workhorse.errors import CorruptDocument
from workhorse.knowledge.blocks import Block, BlockKind

# C0/C1 control characters other than the whitespace ones, and the replacement character.
_GARBAGE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd]")
_MAX_GARBAGE_RATIO = 0.1
"""Above this share of control characters a decoded "text" is binary data (ANSI colour
codes in a log stay well below it)."""

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_text(data: bytes, filename: str) -> str:
    """The text of ``data``: UTF-8 (BOM or not), a UTF-16/32 BOM, else what
    charset-normalizer finds; binary data is a ``CorruptDocument``."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _checked(data.decode(encoding), filename)
            except UnicodeDecodeError as exc:
                raise CorruptDocument(
                    f"{filename} is not a valid text file (invalid {encoding.upper()}"
                    f" at byte {exc.start})"
                ) from exc
    nul = data.find(b"\x00")
    if nul >= 0:
        raise CorruptDocument(
            f"{filename} is not a valid text file (binary content: a NUL byte at offset {nul})"
        )
    try:
        return _checked(data.decode("utf-8-sig"), filename)
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise CorruptDocument(
            f"{filename} is not a valid text file (not UTF-8, and no other text encoding fits)"
        )
    return _checked(str(best), filename)


def _checked(text: str, filename: str) -> str:
    garbage = len(_GARBAGE.findall(text))
    if garbage > _MAX_GARBAGE_RATIO * max(len(text), 1):
        raise CorruptDocument(
            f"{filename} is not a valid text file (binary content:"
            f" {garbage} control characters in {len(text)})"
        )
    return text


def read_plain_text(text: str) -> list[Block]:
    """Paragraphs split on blank lines, located by ``"lines A-B"``."""
    return _line_groups(text, "paragraph")


def read_code(text: str) -> list[Block]:
    """Source code split at blank lines (indentation kept), located by ``"lines A-B"``."""
    return _line_groups(text, "code")


def lines_location(first: int, last: int) -> str:
    """``"line 7"`` or ``"lines 7-12"`` (1-based, inclusive)."""
    return f"line {first}" if first == last else f"lines {first}-{last}"


def _line_groups(text: str, kind: BlockKind) -> list[Block]:
    blocks: list[Block] = []
    group: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            if not group:
                start = number
            group.append(line.rstrip())
        elif group:
            blocks.append(_group_block(group, start, kind))
            group = []
    if group:
        blocks.append(_group_block(group, start, kind))
    return blocks


def _group_block(lines: list[str], start: int, kind: BlockKind) -> Block:
    body = "\n".join(lines) if kind == "code" else "\n".join(line.strip() for line in lines)
    return Block(body, kind, lines_location(start, start + len(lines) - 1))
