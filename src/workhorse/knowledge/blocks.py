"""The unit a parsed document is made of, shared by ``parse`` and the format readers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

BlockKind = Literal["heading", "paragraph", "table_row", "code", "text"]
MAX_LOCATION_TITLE = 200
"""Characters of a heading in a location (every block under it repeats the location)."""


@dataclass(frozen=True)
class Block:
    """One structural piece of a document, in reading order.

    ``location`` says where it came from, for citations: ``"page 3"``, ``"slide 2"``,
    ``"sheet Sales, row 14"``, ``"section Introduction > Setup"``, ``"lines 120-134"``,
    ``"$.items[3]"``; ``None`` where a format has nothing better (text before the first
    heading of a DOCX or HTML file).
    """

    text: str
    kind: BlockKind
    location: str | None
    level: int = 0
    """Heading level (1 is the top) for ``kind == "heading"``; 0 elsewhere."""


@dataclass
class HeadingPath:
    """The headings above the current point of a document, as a citation location."""

    _stack: list[tuple[int, str]] = field(default_factory=list)

    def enter(self, level: int, title: str) -> None:
        """A heading of ``level`` starts: it replaces headings at its level and below."""
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, title[:MAX_LOCATION_TITLE]))

    @property
    def location(self) -> str | None:
        """``"section A > B"``, or ``None`` before the first heading."""
        if not self._stack:
            return None
        return "section " + " > ".join(title for _, title in self._stack)


def squash(text: str) -> str:
    """Collapse runs of whitespace to single spaces (for text laid out by markup)."""
    return " ".join(text.split())
