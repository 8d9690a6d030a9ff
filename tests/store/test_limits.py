"""The limit store on both databases, on a clock the test moves: the same admissions,
refusals, waits, reservations and settling whether the steps run in Python (SQLite) or
inside PostgreSQL (its functions)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from workhorse.errors import BudgetExceeded, LimitExceeded
from workhorse.governance.limits import Limits, parse_budget
from workhorse.store.db import Database, migrate, open_database
from workhorse.store.limits import LimitStore, Subject

START = 1_790_000_000.0  # a moment in 2026-09, seconds


@pytest.fixture
def url(storage_mode: str, tmp_path: Path, new_database: Callable[[], str]) -> str:
    url = f"sqlite:///{tmp_path / 'limits.db'}" if storage_mode == "sqlite" else new_database()
    migrate(url)
    return url


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def scenario(url: str, run: Callable[[LimitStore, Clock, Database], object]) -> None:
    async def main() -> None:
        db = open_database(url)
        clock = Clock()
        try:
            await run(LimitStore(db, clock), clock, db)  # type: ignore[misc]
        finally:
            await db.dispose()

    asyncio.run(main())


def test_requests_per_minute_slide_and_say_when_the_next_is_admitted(url: str) -> None:
    key = Subject("key:k1", Limits(rpm=3))
    project = Subject("project:p1", Limits(rpm=5))

    async def run(store: LimitStore, clock: Clock, _: Database) -> None:
        remaining = []
        for n in range(3):
            admission = await store.admit((key, project), f"r{n}")
            assert admission.requests is not None
            remaining.append(admission.requests.remaining)
            clock.now += 10
        assert remaining == [2, 1, 0]  # the key is the tighter of the two
        with pytest.raises(LimitExceeded) as refused:
            await store.admit((key, project), "r3")
        # the first request (at START) leaves the window at START + 60; now is START + 30
        assert "key k1: 3 requests per minute" in refused.value.message
        assert "admitted in 30.00 s" in refused.value.message
        assert refused.value.headers == {"Retry-After": "30"}
        clock.now = START + 60  # the first has left the window
        admission = await store.admit((key, project), "r4")
        assert admission.requests is not None
        assert admission.requests.remaining == 0
        # the project counted each admitted request once: r1, r2 and r4 are in its window
        other = Subject("key:k2", Limits())
        for expected in (1, 0):
            admission = await store.admit((other, project), f"r{5 + expected}")
            assert admission.requests is not None
            assert admission.requests.remaining == expected
        with pytest.raises(LimitExceeded, match="project p1: 5 requests"):
            await store.admit((other, project), "r7")

    scenario(url, run)


def test_a_replay_is_refunded_and_a_lease_ends_with_its_request(url: str) -> None:
    key = Subject("key:k1", Limits(rpm=2, max_concurrent=1))

    async def run(store: LimitStore, clock: Clock, _: Database) -> None:
        first = await store.admit((key,), "a")
        with pytest.raises(LimitExceeded, match="Concurrency limit reached for key k1: 1"):
            await store.admit((key,), "b")
        await store.finish(first, refund=True)  # a replay: not counted, lease gone
        second = await store.admit((key,), "c")
        await store.finish(second)
        third = await store.admit((key,), "d")
        assert third.requests is not None
        assert third.requests.remaining == 0
        await store.finish(third)
        with pytest.raises(LimitExceeded, match="2 requests per minute"):
            await store.admit((key,), "e")

    scenario(url, run)


def test_tokens_are_reserved_settled_and_waited_for(url: str) -> None:
    key = Subject("key:k1", Limits(tpm=100))
    settled_usage: list[str] = []

    async def run(store: LimitStore, clock: Clock, _: Database) -> None:
        with pytest.raises(LimitExceeded, match="it may take 101 tokens"):
            await store.reserve((key,), "too-big", 101)
        await store.reserve((key,), "g1", 60)
        clock.now += 15
        await store.reserve((key,), "g2", 30)
        clock.now += 15
        with pytest.raises(LimitExceeded) as refused:
            await store.reserve((key,), "g3", 50)
        # 90 reserved; room for 50 comes when g1 (60, at START) leaves: in 30 s
        assert "reserves 50, room comes in 30.00 s" in refused.value.message
        assert refused.value.headers == {"Retry-After": "30"}

        def usage(label: str) -> Callable[[Connection], None]:
            return lambda _conn: settled_usage.append(label)

        await store.settle("g1", 20, also=usage("g1"))  # used 20 of the 60 reserved
        await store.settle("g1", 20, also=usage("again"))  # once only
        await store.settle("unreserved", 5, also=usage("plain"))  # nothing was held
        assert settled_usage == ["g1", "plain"]
        await store.reserve((key,), "g3", 50)  # 20 + 30 + 50 = 100: exactly room
        admission = await store.admit((key,), "r")
        assert admission.tokens is not None
        assert (admission.tokens.remaining, admission.tokens.reset_ms) == (0, 30_000)

    scenario(url, run)


def test_budgets_hard_and_soft(url: str) -> None:
    hard = Subject("key:hard", Limits(budget=parse_budget("100/day")))
    soft = Subject("key:soft", Limits(budget=parse_budget("100/month,soft")))

    async def run(store: LimitStore, clock: Clock, db: Database) -> None:
        await store.reserve((hard,), "h1", 60)
        with pytest.raises(BudgetExceeded) as refused:
            await store.reserve((hard,), "h2", 50)
        assert "60 of 100 tokens this day, and this request reserves 50" in refused.value.message
        assert "renews at 2026-09-22T00:00Z" in refused.value.message
        await store.settle("h1", 10)  # the reservation gives back what it did not use
        await store.reserve((hard,), "h2", 50)
        hold = await store.reserve((soft,), "s1", 150)
        assert hold.warning == "soft budget of key soft passed: 150 of 100 tokens this month"
        async with db.engine.connect() as conn:
            used = dict((await conn.execute(text("SELECT subject, used FROM budget_use"))).all())
        assert used == {"key:hard": 60, "key:soft": 150}

    scenario(url, run)


def test_a_refusal_on_one_subject_writes_nothing_on_the_others(url: str) -> None:
    key = Subject("key:k1", Limits(rpm=10, tpm=1000, budget=parse_budget("1000/day")))
    project = Subject("project:p1", Limits(tpm=40))

    async def run(store: LimitStore, clock: Clock, db: Database) -> None:
        with pytest.raises(LimitExceeded, match="project p1"):
            await store.reserve((key, project), "g", 50)
        async with db.engine.connect() as conn:
            counts = await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM limit_events), (SELECT count(*) FROM budget_use),"
                    " (SELECT count(*) FROM token_reservations)"
                )
            )
            assert tuple(counts.one()) == (0, 0, 0)

    scenario(url, run)
