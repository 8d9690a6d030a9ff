"""Exact limits in the shared database: every replica admits against the same rows.

Each admission is one transaction that first serialises on its subjects (PostgreSQL: a
transaction advisory lock per subject, taken in sorted order; SQLite: ``BEGIN
IMMEDIATE``, the database's write lock), then reads the sliding log and writes what it
admits (the steps are in ``limit_log``; on PostgreSQL they run inside the database, one
round trip). So three replicas sharing a limit of 30 requests per minute admit exactly 30
in any 60 seconds. The windows slide: the log holds each admitted request and each
generation's tokens with their time, and only the last 60 seconds count.

Tokens are reserved (prompt plus output cap) before a generation and settled to the real
count when it ends; a budget counts reservations as spent until they settle, so it is
never overspent.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, text

from workhorse.errors import BudgetExceeded, LimitExceeded, WorkhorseError
from workhorse.governance.limits import Limits
from workhorse.store import limit_log
from workhorse.store.db import Database
from workhorse.store.limit_log import LEASE_MS, Refusal, Verdict
from workhorse.store.tables import LimitEvent, LimitLease

_E = cast(Table, LimitEvent.__table__)
_L = cast(Table, LimitLease.__table__)

_ADMIT = (
    "SELECT workhorse_limit_admit(%(subjects)s::jsonb, %(reservation)s, %(now_ms)s, %(lease_ms)s)"
)
_SETTLE = text("SELECT workhorse_limit_settle(:reservation, :tokens)")
_RESERVE = (
    "SELECT workhorse_limit_reserve(%(subjects)s::jsonb, %(reservation)s, %(tokens)s, %(now_ms)s)"
)


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


def _seconds(ms: int) -> str:
    return str(max(1, math.ceil(ms / 1000)))


def _tightest(windows: list[Window]) -> Window | None:
    return min(windows, key=lambda w: (w.remaining, -w.reset_ms)) if windows else None


def _refused(
    refusal: Refusal, subjects: Sequence[Subject], tokens: int, now: datetime
) -> WorkhorseError:
    """The 429 that names the limit with no room, and when room comes."""
    subject = next(s for s in subjects if s.name == refusal.subject)
    label, limit, wait = subject.label, refusal.limit, refusal.wait_ms
    retry = {"Retry-After": _seconds(wait)}
    if refusal.kind == "requests":
        return LimitExceeded(
            f"Rate limit reached for {label}: {limit} requests per minute; the next is "
            f"admitted in {wait / 1000:.2f} s.",
            headers=retry,
        )
    if refusal.kind == "concurrency":
        return LimitExceeded(
            f"Concurrency limit reached for {label}: {limit} requests at once.", headers=retry
        )
    if refusal.kind == "too_large":
        return LimitExceeded(
            f"Request too large for {label}: it may take {tokens} tokens (prompt and output "
            f"cap), over the limit of {limit} tokens per minute; ask for fewer output tokens "
            "or a shorter prompt."
        )
    if refusal.kind == "tokens":
        return LimitExceeded(
            f"Rate limit reached for {label}: {limit} tokens per minute; this request "
            f"reserves {tokens}, room comes in {wait / 1000:.2f} s.",
            headers=retry,
        )
    budget = subject.limits.budget
    assert budget is not None
    ends = budget.ends(now)
    return BudgetExceeded(
        f"Token budget spent for {label}: {refusal.used} of {budget.tokens} tokens this "
        f"{budget.period}, and this request reserves {tokens}; the budget renews at "
        f"{ends:%Y-%m-%dT%H:%M}Z.",
        headers={"Retry-After": _seconds(int((ends - now).total_seconds() * 1000))},
    )


class LimitStore:
    """Admit requests and reserve tokens against limits held in the database."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def _verdict(
        self,
        on_postgres: tuple[str, dict[str, Any]],
        on_sqlite: Callable[[Connection], Verdict],
    ) -> Verdict:
        if self._db.dialect == "postgresql":
            statement, params = on_postgres
            raw = await self._db.call(statement, params)
            return Verdict.parse(raw if isinstance(raw, dict) else json.loads(raw))
        return await self._db.write(on_sqlite)

    async def admit(self, subjects: Sequence[Subject], reservation: str) -> Admission:
        """Count a request against every subject's rpm and concurrency; 429 naming the
        limit, with ``Retry-After``, when one is reached (then nothing is counted)."""
        now_ms = int(self._clock() * 1000)
        pairs = [(s.name, s.limits) for s in subjects]
        params = {
            "subjects": limit_log.subjects_json(pairs, {}),
            "reservation": reservation,
            "now_ms": now_ms,
            "lease_ms": LEASE_MS,
        }
        verdict = await self._verdict(
            (_ADMIT, params), lambda conn: limit_log.admit(conn, pairs, reservation, now_ms)
        )
        if verdict.refusal is not None:
            now = datetime.fromtimestamp(now_ms / 1000, UTC)
            raise _refused(verdict.refusal, subjects, 0, now)
        windows = {
            kind: [
                Window(w.limit, w.remaining, w.reset_ms) for w in verdict.windows if w.kind == kind
            ]
            for kind in ("requests", "tokens")
        }
        return Admission(
            reservation,
            tuple(s.name for s in subjects if s.limits.max_concurrent is not None),
            tuple(s.name for s in subjects if s.limits.rpm is not None),
            _tightest(windows["requests"]),
            _tightest(windows["tokens"]),
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
        now_ms = int(self._clock() * 1000)
        now = datetime.fromtimestamp(now_ms / 1000, UTC)
        pairs = [(s.name, s.limits) for s in subjects]
        periods = {s.name: s.limits.budget.period_of(now) for s in subjects if s.limits.budget}
        params = {
            "subjects": limit_log.subjects_json(pairs, periods),
            "reservation": reservation,
            "tokens": tokens,
            "now_ms": now_ms,
        }
        verdict = await self._verdict(
            (_RESERVE, params),
            lambda conn: limit_log.reserve(conn, pairs, reservation, tokens, now_ms, periods),
        )
        if verdict.refusal is not None:
            raise _refused(verdict.refusal, subjects, tokens, now)
        warning = None
        if verdict.soft is not None:
            name, used, budget_tokens = verdict.soft
            subject = next(s for s in subjects if s.name == name)
            period = subject.limits.budget.period if subject.limits.budget else "period"
            warning = (
                f"soft budget of {subject.label} passed: {used} of {budget_tokens} tokens "
                f"this {period}"
            )
        return Hold(reservation, tokens, warning)

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

        postgres = self._db.dialect == "postgresql"

        def work(conn: Connection) -> None:
            if postgres:
                outcome = conn.scalar(_SETTLE, {"reservation": reservation, "tokens": tokens})
            else:
                outcome = limit_log.settle(conn, reservation, tokens)
            if outcome != "done" and also is not None:
                also(conn)

        await self._db.write(work)
