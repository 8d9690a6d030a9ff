"""The limits a key or a project carries: requests and tokens per minute, concurrent
requests, and a token budget per UTC day or calendar month, hard or soft."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from workhorse.errors import InvalidRequest

Period = Literal["day", "month"]
WINDOW_MS = 60_000
"""The sliding window of the per-minute limits."""

_BUDGET = re.compile(r"^\s*(\d+)\s*/\s*(day|month)\s*(?:,\s*(hard|soft))?\s*$")


@dataclass(frozen=True)
class Budget:
    """At most ``tokens`` (prompt and output together) per ``period``, UTC."""

    tokens: int
    period: Period
    hard: bool = True
    """Hard: refuse past it (429 ``budget_exceeded``). Soft: allow, and warn."""

    def period_of(self, moment: datetime) -> str:
        """The period ``moment`` falls in: ``2026-12-03`` or ``2026-12``."""
        return f"{moment:%Y-%m-%d}" if self.period == "day" else f"{moment:%Y-%m}"

    def ends(self, moment: datetime) -> datetime:
        """When the period ``moment`` falls in ends."""
        start = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        if self.period == "day":
            return start + timedelta(days=1)
        first = start.replace(day=1)
        return (first + timedelta(days=32)).replace(day=1)

    def text(self) -> str:
        return f"{self.tokens}/{self.period}" + ("" if self.hard else ",soft")


def parse_budget(text: str, param: str = "budget") -> Budget:
    """``1000000/month``, ``50000/day`` or ``50000/day,soft``; 400 naming ``param``."""
    match = _BUDGET.match(text)
    if match is None:
        raise InvalidRequest(
            f"{text!r} is not a budget like 1000000/month or 50000/day,soft", param=param
        )
    period: Period = "day" if match.group(2) == "day" else "month"
    return Budget(int(match.group(1)), period, hard=match.group(3) != "soft")


@dataclass(frozen=True)
class Limits:
    """What a key or project may spend; None: no limit of that kind."""

    rpm: int | None = None
    """Requests in any 60 seconds."""
    tpm: int | None = None
    """Tokens (prompt and output, reserved then settled) in any 60 seconds."""
    max_concurrent: int | None = None
    """Requests running at once."""
    budget: Budget | None = None

    @property
    def empty(self) -> bool:
        return self == Limits()

    def to_json(self) -> str | None:
        if self.empty:
            return None
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> Limits:
        if not text:
            return cls()
        data = json.loads(text)
        budget = data.get("budget")
        return cls(
            rpm=data.get("rpm"),
            tpm=data.get("tpm"),
            max_concurrent=data.get("max_concurrent"),
            budget=Budget(budget["tokens"], budget["period"], budget["hard"]) if budget else None,
        )

    def text(self) -> str:
        """``rpm 60, tpm 20000, 1000000/month``, or ``none``."""
        parts = [
            f"{name} {value}"
            for name, value in (
                ("rpm", self.rpm),
                ("tpm", self.tpm),
                ("concurrent", self.max_concurrent),
            )
            if value is not None
        ]
        if self.budget is not None:
            parts.append(self.budget.text())
        return ", ".join(parts) or "none"


NO_LIMITS = Limits()
"""Nothing limited (immutable, so a safe default)."""
