"""Exact limits in the shared database: every replica admits against the same rows.

Each admission is one transaction that first serialises on its subjects (PostgreSQL: a
transaction advisory lock per subject, taken in sorted order; SQLite: ``BEGIN
IMMEDIATE``, the database's write lock), then reads the sliding log and writes what it
admits. So three replicas sharing a limit of 30 requests per minute admit exactly 30 in
any 60 seconds. The windows slide: the log holds each admitted request and each
generation's tokens with their time, and only the last 60 seconds count.

Tokens are reserved (prompt plus output cap) before a generation and settled to the real
count when it ends; a budget counts reservations as spent until they settle, so it is
never overspent.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Connection, Table, delete, func, insert, select, text, update

from workhorse.errors import BudgetExceeded, LimitExceeded
from workhorse.governance.limits import WINDOW_MS, Limits
from workhorse.store.db import Database
from workhorse.store.tables import BudgetUse, LimitEvent, LimitLease, TokenReservation

PRUNE_EVERY = 32
LEASE_MS = 15 * 60_000
"""A concurrency lease a crashed process left behind frees itself after this long."""

_E = cast(Table, LimitEvent.__table__)
_L = cast(Table, LimitLease.__table__)
_B = cast(Table, BudgetUse.__table__)
_R = cast(Table, TokenReservation.__table__)


@dataclass(frozen=True)
class Subject:
    """Who a limit belongs to: ``key:<id>`` or ``project:<id>``, with its limits."""

    name: str
    limits: Limits

    @property
    def label(self) -> str:
        kind, _, ident = self.name.partition(":")
        return f"{kind} {ident}"


@dataclass(frozen=True)
class Window:
    """One per-minute limit as the rate-limit headers show it."""

    limit: int
    remaining: int
    reset_ms: int
    """Until the window next frees room."""


@dataclass(frozen=True)
class Admission:
    """A request admitted under its subjects' request and concurrency limits."""

    reservation: str
    leases: tuple[str, ...]
    counted: tuple[str, ...]
    requests: Window | None
    tokens: Window | None


@dataclass(frozen=True)
class Hold:
    """Tokens reserved for one generation; ``warning`` when a soft budget is spent."""

    reservation: str
    tokens: int
    warning: str | None = None


def _lock(conn: Connection, subjects: Sequence[str]) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        return
    for name in sorted(set(subjects)):
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def _window_events(conn: Connection, subject: str, kind: str, now_ms: int) -> list[tuple[int, int]]:
    rows = conn.execute(
        select(_E.c.at_ms, _E.c.amount)
        .where(_E.c.subject == subject, _E.c.kind == kind, _E.c.at_ms > now_ms - WINDOW_MS)
        .order_by(_E.c.at_ms)
    )
    return [(row.at_ms, row.amount) for row in rows]


@dataclass(frozen=True)
class _Tally:
    """A window's entries in one aggregate read: how many, their sum, the oldest."""

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


def _wait_ms(events: list[tuple[int, int]], limit: int, need: int, now_ms: int) -> int:
    """How long until the window holds room for ``need`` more (events oldest first); 0
    when it has room now."""
    total = sum(amount for _, amount in events)
    if total + need <= limit:
        return 0
    for at, amount in events:
        total -= amount
        if total + need <= limit:
            return max(at + WINDOW_MS - now_ms, 1)
    return WINDOW_MS


def _seconds(ms: int) -> str:
    return str(max(1, math.ceil(ms / 1000)))


def _tightest(windows: list[Window]) -> Window | None:
    return min(windows, key=lambda w: (w.remaining, -w.reset_ms)) if windows else None


class LimitStore:
    """Admit requests and reserve tokens against limits held in the database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._writes = 0

    async def admit(self, subjects: Sequence[Subject], reservation: str) -> Admission:
        """Count a request against every subject's rpm and concurrency; 429 naming the
        limit, with ``Retry-After``, when one is reached (then nothing is counted)."""
        return await self._db.write(lambda conn: self._admit(conn, subjects, reservation))

    def _admit(self, conn: Connection, subjects: Sequence[Subject], reservation: str) -> Admission:
        _lock(conn, [s.name for s in subjects])
        now_ms = int(time.time() * 1000)
        requests: list[Window] = []
        tokens: list[Window] = []
        for subject in subjects:
            limits = subject.limits
            if limits.rpm is not None:
                tally = _tally(conn, subject.name, "requests", now_ms)
                if tally.count >= limits.rpm:
                    events = _window_events(conn, subject.name, "requests", now_ms)
                    wait = _wait_ms(events, limits.rpm, 1, now_ms)
                    raise LimitExceeded(
                        f"Rate limit reached for {subject.label}: {limits.rpm} requests per "
                        f"minute; the next is admitted in {wait / 1000:.2f} s.",
                        headers={"Retry-After": _seconds(wait)},
                    )
                reset = tally.reset_ms(now_ms, WINDOW_MS)
                requests.append(Window(limits.rpm, limits.rpm - tally.count - 1, reset))
            if limits.max_concurrent is not None:
                running = conn.scalar(
                    select(func.count())
                    .select_from(_L)
                    .where(_L.c.subject == subject.name, _L.c.expires_ms > now_ms)
                )
                if (running or 0) >= limits.max_concurrent:
                    raise LimitExceeded(
                        f"Concurrency limit reached for {subject.label}: "
                        f"{limits.max_concurrent} requests at once.",
                        headers={"Retry-After": "1"},
                    )
            if limits.tpm is not None:
                tally = _tally(conn, subject.name, "tokens", now_ms)
                remaining = max(limits.tpm - tally.total, 0)
                tokens.append(Window(limits.tpm, remaining, tally.reset_ms(now_ms, 0)))
        counted = [s.name for s in subjects if s.limits.rpm is not None]
        leases = [s.name for s in subjects if s.limits.max_concurrent is not None]
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
            self._prune(conn, counted, now_ms)
        if leases:
            conn.execute(delete(_L).where(_L.c.subject.in_(leases), _L.c.expires_ms <= now_ms))
            conn.execute(
                insert(_L),
                [
                    {"subject": name, "reservation": reservation, "expires_ms": now_ms + LEASE_MS}
                    for name in leases
                ],
            )
        return Admission(
            reservation, tuple(leases), tuple(counted), _tightest(requests), _tightest(tokens)
        )

    async def finish(self, admission: Admission, *, refund: bool = False) -> None:
        """The request ended: its leases go; ``refund`` (a replay) un-counts it too."""
        if not admission.leases and not (refund and admission.counted):
            return

        def work(conn: Connection) -> None:
            if admission.leases:
                conn.execute(
                    delete(_L).where(
                        _L.c.subject.in_(admission.leases),
                        _L.c.reservation == admission.reservation,
                    )
                )
            if refund and admission.counted:
                conn.execute(
                    delete(_E).where(
                        _E.c.reservation == admission.reservation, _E.c.kind == "requests"
                    )
                )

        await self._db.write(work)

    async def reserve(self, subjects: Sequence[Subject], reservation: str, tokens: int) -> Hold:
        """Reserve ``tokens`` on every subject's tpm and budget; 429 naming the limit when
        one has no room (then nothing is reserved)."""
        return await self._db.write(lambda conn: self._reserve(conn, subjects, reservation, tokens))

    def _reserve(
        self, conn: Connection, subjects: Sequence[Subject], reservation: str, tokens: int
    ) -> Hold:
        _lock(conn, [s.name for s in subjects])
        now_ms = int(time.time() * 1000)
        now = datetime.fromtimestamp(now_ms / 1000, UTC)
        warning = None
        held: list[tuple[str, str | None, bool]] = []
        for subject in subjects:
            limits = subject.limits
            if limits.tpm is not None:
                if tokens > limits.tpm:
                    raise LimitExceeded(
                        f"Request too large for {subject.label}: it may take {tokens} tokens "
                        f"(prompt and output cap), over the limit of {limits.tpm} tokens per "
                        "minute; ask for fewer output tokens or a shorter prompt."
                    )
                tally = _tally(conn, subject.name, "tokens", now_ms)
                if tally.total + tokens > limits.tpm:
                    events = _window_events(conn, subject.name, "tokens", now_ms)
                    wait = _wait_ms(events, limits.tpm, tokens, now_ms)
                    raise LimitExceeded(
                        f"Rate limit reached for {subject.label}: {limits.tpm} tokens per "
                        f"minute; this request reserves {tokens}, room comes in "
                        f"{wait / 1000:.2f} s.",
                        headers={"Retry-After": _seconds(wait)},
                    )
            period = None
            if limits.budget is not None:
                budget = limits.budget
                period = budget.period_of(now)
                used = (
                    conn.scalar(
                        select(_B.c.used).where(_B.c.subject == subject.name, _B.c.period == period)
                    )
                    or 0
                )
                if used + tokens > budget.tokens:
                    if budget.hard:
                        ends = budget.ends(now)
                        raise BudgetExceeded(
                            f"Token budget spent for {subject.label}: {used} of "
                            f"{budget.tokens} tokens this {budget.period}, and this request "
                            f"reserves {tokens}; the budget renews at {ends:%Y-%m-%dT%H:%M}Z.",
                            headers={
                                "Retry-After": _seconds(int((ends - now).total_seconds() * 1000))
                            },
                        )
                    warning = (
                        f"soft budget of {subject.label} passed: {used + tokens} of "
                        f"{budget.tokens} tokens this {budget.period}"
                    )
            if limits.tpm is not None or period is not None:
                held.append((subject.name, period, limits.tpm is not None))
        if not held:
            return Hold(reservation, tokens, warning)
        for name, period, per_minute in held:
            if per_minute:
                conn.execute(
                    insert(_E).values(
                        subject=name,
                        kind="tokens",
                        at_ms=now_ms,
                        amount=tokens,
                        reservation=reservation,
                    )
                )
            if period is not None:
                self._add_budget(conn, name, period, tokens)
        self._prune(conn, [name for name, _, per_minute in held if per_minute], now_ms)
        conn.execute(
            insert(_R).values(
                id=reservation,
                reserved=tokens,
                subjects_json=json.dumps(held),
                at_ms=now_ms,
                settled=None,
            )
        )
        return Hold(reservation, tokens, warning)

    def _prune(self, conn: Connection, subjects: list[str], now_ms: int) -> None:
        """Every PRUNE_EVERY writes, drop the subjects' log entries the window has left
        behind (the reads skip them anyway; this only keeps the table small)."""
        self._writes += 1
        if subjects and self._writes % PRUNE_EVERY == 0:
            conn.execute(
                delete(_E).where(_E.c.subject.in_(subjects), _E.c.at_ms <= now_ms - WINDOW_MS)
            )

    @staticmethod
    def _add_budget(conn: Connection, subject: str, period: str, tokens: int) -> None:
        changed = conn.execute(
            update(_B)
            .where(_B.c.subject == subject, _B.c.period == period)
            .values(used=_B.c.used + tokens)
        )
        if changed.rowcount == 0:
            conn.execute(insert(_B).values(subject=subject, period=period, used=tokens))

    async def settle(
        self,
        reservation: str,
        tokens: int,
        also: Callable[[Connection], None] | None = None,
    ) -> None:
        """The generation ended having used ``tokens``: the reservation becomes that
        count in the per-minute log and the budgets, and ``also`` runs in the same
        transaction (the usage record). Idempotent: settles, and runs ``also``, once; with
        no such reservation (nothing was limited) only ``also`` runs."""

        def work(conn: Connection) -> None:
            row = conn.execute(select(_R).where(_R.c.id == reservation)).first()
            if row is None:  # nothing was reserved (no token limit): only ``also``
                if also is not None:
                    also(conn)
                return
            if row.settled is not None:
                return
            held = json.loads(row.subjects_json)
            # No lock: settling only corrects what an admission already counted (down to
            # the tokens used), and the claim below makes it happen once.
            claimed = conn.execute(
                update(_R)
                .where(_R.c.id == reservation, _R.c.settled.is_(None))
                .values(settled=tokens)
            )
            if claimed.rowcount == 0:
                return  # another process settled it meanwhile
            for name, period, per_minute in held:
                if per_minute:
                    conn.execute(
                        update(_E)
                        .where(
                            _E.c.reservation == reservation,
                            _E.c.subject == name,
                            _E.c.kind == "tokens",
                        )
                        .values(amount=tokens)
                    )
                if period is not None:
                    self._add_budget(conn, name, period, tokens - row.reserved)
            if also is not None:
                also(conn)

        await self._db.write(work)
