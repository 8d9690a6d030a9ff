"""The steps of an admission and of a token reservation: check every subject's limits in
the sliding log, then write what was admitted; one verdict, the same on both backends.
And settling a reservation to the tokens really used.

PostgreSQL runs them inside the database, as the functions ``workhorse_limit_admit`` and
``workhorse_limit_reserve`` (migration 0013): one round trip each, and the subjects'
advisory locks are held only while the database runs them, never across a round trip to
a busy process. SQLite runs them here, in a ``BEGIN IMMEDIATE`` transaction on the
process's writer thread. The two are the same algorithm, checked by the same tests; so is
settling (``workhorse_limit_settle``), which runs in the transaction that records usage.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlalchemy import Connection, Table, delete, func, insert, select, text, update

from workhorse.governance.limits import WINDOW_MS, Limits
from workhorse.store.tables import BudgetUse, LimitEvent, LimitLease, TokenReservation

PRUNE_EVERY = 32
"""About one write in this many also drops the log entries the window has left."""
LEASE_MS = 15 * 60_000
"""A concurrency lease a crashed process left behind frees itself after this long."""

_E = cast(Table, LimitEvent.__table__)
_L = cast(Table, LimitLease.__table__)
_B = cast(Table, BudgetUse.__table__)
_R = cast(Table, TokenReservation.__table__)

RefusalKind = Literal["requests", "concurrency", "too_large", "tokens", "budget"]


@dataclass(frozen=True)
class Refusal:
    """The limit that has no room: which, whose, and when room comes."""

    kind: RefusalKind
    subject: str
    limit: int
    wait_ms: int = 0
    used: int = 0
    """Budget tokens already spent (``budget``)."""


@dataclass(frozen=True)
class Standing:
    """Where one per-minute window stands after an admission."""

    kind: Literal["requests", "tokens"]
    limit: int
    remaining: int
    reset_ms: int


@dataclass(frozen=True)
class Verdict:
    """An admission's or a reservation's outcome; nothing was written when refused."""

    refusal: Refusal | None = None
    windows: tuple[Standing, ...] = ()
    soft: tuple[str, int, int] | None = None
    """A soft budget this reservation passed: subject, tokens used with it, budget."""

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Verdict:
        """The verdict a database function returned as JSON."""
        refused = raw.get("refused")
        soft = raw.get("soft")
        return cls(
            Refusal(**refused) if refused else None,
            tuple(Standing(**window) for window in raw.get("windows") or ()),
            (soft["subject"], soft["used"], soft["limit"]) if soft else None,
        )


def subjects_json(subjects: Sequence[tuple[str, Limits]], period_of: dict[str, str]) -> str:
    """The subjects and their limits as the database functions read them: only the
    limits set, and a budget with the period it counts in now (when ``period_of`` has
    it: an admission does not look at budgets)."""
    out: list[dict[str, Any]] = []
    for name, limits in subjects:
        entry: dict[str, Any] = {"name": name}
        for field in ("rpm", "tpm", "max_concurrent"):
            value = getattr(limits, field)
            if value is not None:
                entry[field] = value
        if limits.budget is not None and name in period_of:
            entry["budget"] = {
                "tokens": limits.budget.tokens,
                "period": period_of[name],
                "hard": limits.budget.hard,
            }
        out.append(entry)
    return json.dumps(out)


def lock_key(subject: str) -> int:
    """The advisory lock of a subject: its SHA-256's first 8 bytes, signed (what
    ``workhorse_limit_lock`` computes in the database)."""
    return int.from_bytes(hashlib.sha256(subject.encode()).digest()[:8], "big", signed=True)


def lock(conn: Connection, subjects: Sequence[str]) -> None:
    """Serialise on the subjects: SQLite's write lock, or PostgreSQL's advisory locks in
    sorted order."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        return
    for key in sorted({lock_key(name) for name in subjects}):
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


@dataclass(frozen=True)
class _Tally:
    count: int
    total: int
    oldest_ms: int | None

    def reset_ms(self, now_ms: int, empty: int) -> int:
        return self.oldest_ms + WINDOW_MS - now_ms if self.oldest_ms is not None else empty


def _tally(conn: Connection, subject: str, kind: str, now_ms: int) -> _Tally:
    row = conn.execute(
        select(func.count(), func.coalesce(func.sum(_E.c.amount), 0), func.min(_E.c.at_ms)).where(
            _E.c.subject == subject, _E.c.kind == kind, _E.c.at_ms > now_ms - WINDOW_MS
        )
    ).one()
    return _Tally(int(row[0]), int(row[1]), None if row[2] is None else int(row[2]))


def _wait_ms(conn: Connection, subject: str, kind: str, limit: int, need: int, now_ms: int) -> int:
    """How long until the window holds room for ``need`` more (it has none now): until
    enough of its oldest entries leave it."""
    rows = conn.execute(
        select(_E.c.at_ms, _E.c.amount)
        .where(_E.c.subject == subject, _E.c.kind == kind, _E.c.at_ms > now_ms - WINDOW_MS)
        .order_by(_E.c.at_ms, _E.c.id)
    ).all()
    total = sum(row.amount for row in rows)
    for row in rows:
        total -= row.amount
        if total + need <= limit:
            return max(int(row.at_ms) + WINDOW_MS - now_ms, 1)
    return WINDOW_MS


def _prune(conn: Connection, subjects: list[str], now_ms: int) -> None:
    """Now and then (one write in PRUNE_EVERY), drop the subjects' log entries the window
    has left behind: the reads skip them anyway; this keeps the table small."""
    if subjects and random.random() < 1 / PRUNE_EVERY:
        conn.execute(delete(_E).where(_E.c.subject.in_(subjects), _E.c.at_ms <= now_ms - WINDOW_MS))


def admit(
    conn: Connection, subjects: Sequence[tuple[str, Limits]], reservation: str, now_ms: int
) -> Verdict:
    """Check every subject's rpm and concurrency, read its token window; when all have
    room, log the request and take the leases."""
    lock(conn, [name for name, _ in subjects])
    windows: list[Standing] = []
    for name, limits in subjects:
        if limits.rpm is not None:
            tally = _tally(conn, name, "requests", now_ms)
            if tally.count >= limits.rpm:
                wait = _wait_ms(conn, name, "requests", limits.rpm, 1, now_ms)
                return Verdict(Refusal("requests", name, limits.rpm, wait))
            reset = tally.reset_ms(now_ms, WINDOW_MS)
            windows.append(Standing("requests", limits.rpm, limits.rpm - tally.count - 1, reset))
        if limits.max_concurrent is not None:
            running = conn.scalar(
                select(func.count())
                .select_from(_L)
                .where(_L.c.subject == name, _L.c.expires_ms > now_ms)
            )
            if (running or 0) >= limits.max_concurrent:
                return Verdict(Refusal("concurrency", name, limits.max_concurrent, 1000))
        if limits.tpm is not None:
            tally = _tally(conn, name, "tokens", now_ms)
            remaining = max(limits.tpm - tally.total, 0)
            windows.append(Standing("tokens", limits.tpm, remaining, tally.reset_ms(now_ms, 0)))
    counted = [name for name, limits in subjects if limits.rpm is not None]
    leases = [name for name, limits in subjects if limits.max_concurrent is not None]
    if counted:
        conn.execute(
            insert(_E),
            [
                {
                    "subject": name,
                    "kind": "requests",
                    "at_ms": now_ms,
                    "amount": 1,
                    "reservation": reservation,
                }
                for name in counted
            ],
        )
        _prune(conn, counted, now_ms)
    if leases:
        conn.execute(delete(_L).where(_L.c.subject.in_(leases), _L.c.expires_ms <= now_ms))
        conn.execute(
            insert(_L),
            [
                {"subject": name, "reservation": reservation, "expires_ms": now_ms + LEASE_MS}
                for name in leases
            ],
        )
    return Verdict(windows=tuple(windows))


def reserve(
    conn: Connection,
    subjects: Sequence[tuple[str, Limits]],
    reservation: str,
    tokens: int,
    now_ms: int,
    period_of: dict[str, str],
) -> Verdict:
    """Check every subject's tpm and budget for ``tokens`` more; when all have room (a
    soft budget always has), log them, add them to the budgets and keep the reservation."""
    lock(conn, [name for name, _ in subjects])
    soft: tuple[str, int, int] | None = None
    held: list[tuple[str, str | None, bool]] = []
    for name, limits in subjects:
        if limits.tpm is not None:
            if tokens > limits.tpm:
                return Verdict(Refusal("too_large", name, limits.tpm))
            tally = _tally(conn, name, "tokens", now_ms)
            if tally.total + tokens > limits.tpm:
                wait = _wait_ms(conn, name, "tokens", limits.tpm, tokens, now_ms)
                return Verdict(Refusal("tokens", name, limits.tpm, wait))
        period = None
        if limits.budget is not None:
            budget = limits.budget
            period = period_of[name]
            used = (
                conn.scalar(select(_B.c.used).where(_B.c.subject == name, _B.c.period == period))
                or 0
            )
            if used + tokens > budget.tokens:
                if budget.hard:
                    return Verdict(Refusal("budget", name, budget.tokens, used=used))
                soft = (name, used + tokens, budget.tokens)
        if limits.tpm is not None or period is not None:
            held.append((name, period, limits.tpm is not None))
    if not held:
        return Verdict(soft=soft)
    per_minute = [name for name, _, counts in held if counts]
    if per_minute:
        conn.execute(
            insert(_E),
            [
                {
                    "subject": name,
                    "kind": "tokens",
                    "at_ms": now_ms,
                    "amount": tokens,
                    "reservation": reservation,
                }
                for name in per_minute
            ],
        )
        _prune(conn, per_minute, now_ms)
    for name, period, _ in held:
        if period is not None:
            add_budget(conn, name, period, tokens)
    conn.execute(
        insert(_R).values(
            id=reservation,
            reserved=tokens,
            subjects_json=json.dumps(held),
            at_ms=now_ms,
            settled=None,
        )
    )
    return Verdict(soft=soft)


SettleOutcome = Literal["settled", "unknown", "done"]


def settle(conn: Connection, reservation: str, tokens: int) -> SettleOutcome:
    """Settle a reservation to the ``tokens`` used, in the log and the budgets, once:
    ``settled``; ``unknown`` when nothing was reserved under that id (no token limit);
    ``done`` when it was settled before, here or by another process. No lock: settling
    only corrects what a reservation already counted, and the claim makes it once."""
    claimed = conn.execute(
        update(_R)
        .where(_R.c.id == reservation, _R.c.settled.is_(None))
        .values(settled=tokens)
        .returning(_R.c.reserved, _R.c.subjects_json)
    ).first()
    if claimed is None:
        exists = conn.scalar(select(_R.c.id).where(_R.c.id == reservation))
        return "unknown" if exists is None else "done"
    held = json.loads(claimed.subjects_json)
    if any(per_minute for _, _, per_minute in held):
        conn.execute(
            update(_E)
            .where(_E.c.reservation == reservation, _E.c.kind == "tokens")
            .values(amount=tokens)
        )
    for name, period, _ in held:
        if period is not None:
            add_budget(conn, name, period, tokens - claimed.reserved)
    return "settled"


def add_budget(conn: Connection, subject: str, period: str, tokens: int) -> None:
    """Add ``tokens`` (negative: give back) to a subject's budget period."""
    changed = conn.execute(
        update(_B)
        .where(_B.c.subject == subject, _B.c.period == period)
        .values(used=_B.c.used + tokens)
    )
    if changed.rowcount == 0:
        conn.execute(insert(_B).values(subject=subject, period=period, used=tokens))
