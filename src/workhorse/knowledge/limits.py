"""The limits a document is read under: caps per format, and the parser process's own.

``DocumentLimits`` are checked by the readers themselves (cheaply, before or while they
read), ``ProcessLimits`` by the operating system around the parser process
(``knowledge.sandbox``). Both come from the ``parse_*`` settings, and every limit a file
passes is its failure, in words: ``"report.pdf has more than 5,000 pages"``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from workhorse.config import Settings
from workhorse.errors import DocumentLimitExceeded

COMPRESSION_RATIO_FLOOR = 1024 * 1024
"""Zip parts that inflate to less than this are never judged by their ratio (a small
part of repeated markup can compress well without harm)."""


@dataclass(frozen=True)
class DocumentLimits:
    """Caps on what one document may hold, checked by the readers."""

    max_bytes: int = 512 * 1024**2
    max_chars: int = 20_000_000
    max_pages: int = 5_000
    max_rows: int = 250_000
    max_slides: int = 2_000
    max_depth: int = 256
    max_line_bytes: int = 1024 * 1024
    max_unzipped_bytes: int = 1024**3
    max_member_bytes: int = 512 * 1024**2
    max_compression_ratio: float = 100.0

    @classmethod
    def of(cls, settings: Settings) -> DocumentLimits:
        """The limits the settings give."""
        return cls(
            max_bytes=settings.ingest_max_file_bytes,
            max_chars=settings.parse_max_chars,
            max_pages=settings.parse_max_pages,
            max_rows=settings.parse_max_rows,
            max_slides=settings.parse_max_slides,
            max_depth=settings.parse_max_depth,
            max_line_bytes=settings.parse_max_line_bytes,
            max_unzipped_bytes=settings.parse_max_unzipped_bytes,
            max_member_bytes=settings.parse_max_member_bytes,
            max_compression_ratio=settings.parse_max_compression_ratio,
        )

    def to_json(self) -> dict[str, Any]:
        """For the parser process."""
        return asdict(self)


@dataclass(frozen=True)
class ProcessLimits:
    """What the operating system allows one parser process."""

    memory_bytes: int = 2 * 1024**3
    cpu_s: float = 120.0
    wall_s: float = 240.0
    open_files: int = 64

    @classmethod
    def of(cls, settings: Settings) -> ProcessLimits:
        """The limits the settings give."""
        return cls(
            memory_bytes=settings.parse_memory_bytes,
            cpu_s=settings.parse_cpu_s,
            wall_s=settings.parse_wall_s,
            open_files=settings.parse_open_files,
        )

    def to_json(self) -> dict[str, Any]:
        """For the parser process."""
        return asdict(self)


class Tally:
    """Counts something a document holds (rows, characters) against its cap."""

    def __init__(self, filename: str, cap: int, what: str, setting: str) -> None:
        self._filename = filename
        self._cap = cap
        self._what = what
        self._setting = setting
        self.count = 0

    def add(self, amount: int = 1) -> None:
        """Count ``amount`` more; past the cap the document fails."""
        self.count += amount
        if self.count > self._cap:
            raise exceeded(self._filename, self._cap, self._what, self._setting)


def exceeded(filename: str, cap: int, what: str, setting: str) -> DocumentLimitExceeded:
    """``"report.pdf has more than 5,000 pages (limit: WORKHORSE_PARSE_MAX_PAGES)"``."""
    return DocumentLimitExceeded(
        f"{filename} has more than {cap:,} {what} (limit: WORKHORSE_{setting.upper()})"
    )


def size_words(count: int) -> str:
    """``"1.5 GiB"``, ``"512 MiB"``, ``"64 KiB"``, ``"100 bytes"``."""
    for unit, name in ((1024**3, "GiB"), (1024**2, "MiB"), (1024, "KiB")):
        if count >= unit:
            value = count / unit
            return f"{value:.0f} {name}" if value == int(value) else f"{value:.1f} {name}"
    return f"{count} bytes"
