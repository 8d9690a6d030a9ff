"""Eval runs' items on both databases: each item counted once, by its holder only."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from workhorse.store.db import migrate, open_database
from workhorse.store.eval_items import (
    ERROR,
    FAIL,
    PASS,
    EvalItemStore,
    GradedItem,
    ModelUsage,
    NotHeld,
)
from workhorse.store.eval_runs import CANCELED, EvalRunStore, NewRun, new_run_id
from workhorse.store.evals import EvalStore

LEASE = timedelta(seconds=30)


@pytest.fixture
def url(storage_mode: str, tmp_path: Path, new_database: Callable[[], str]) -> str:
    if storage_mode == "sqlite":
        return f"sqlite:///{tmp_path / 'evals.db'}"
    return new_database()


Scenario = Callable[[EvalStore, EvalRunStore, EvalItemStore], Awaitable[None]]


def run(url: str, scenario: Scenario) -> None:
    migrate(url)

    async def main() -> None:
        db = open_database(url)
        try:
            await scenario(EvalStore(db), EvalRunStore(db), EvalItemStore(db))
        finally:
            await db.dispose()

    asyncio.run(main())


async def new_run(evals: EvalStore, runs: EvalRunStore) -> str:
    created = await evals.create(
        "proj_a",
        None,
        name="e",
        data_source_config={"type": "custom", "item_schema": {}},
        testing_criteria=[{"type": "string_check", "name": "c"}],
        metadata={},
    )
    run_id = new_run_id()
    await runs.create(
        "proj_a",
        NewRun(
            id=run_id,
            eval_id=created.id,
            name="r",
            model=None,
            data_source={"type": "jsonl"},
            metadata={},
            items_sha256="0" * 64,
            total=3,
            criteria=["c"],
            api_key_id=None,
            traceparent=None,
        ),
    )
    return run_id


def graded(index: int, status: str, model: str = "m") -> GradedItem:
    results = [{"name": "c", "passed": status == PASS}] if status != ERROR else []
    return GradedItem(index, status, {"i": index}, results, {}, [ModelUsage(model, 5, 2)])


def test_an_item_recorded_twice_counts_once(url: str) -> None:
    async def scenario(evals: EvalStore, runs: EvalRunStore, items: EvalItemStore) -> None:
        run_id = await new_run(evals, runs)
        claimed = await runs.claim(run_id, LEASE)
        assert claimed is not None
        _, token, taken_over = claimed
        assert not taken_over
        assert await items.record(run_id, token, graded(0, PASS))
        assert not await items.record(run_id, token, graded(0, FAIL))  # a second grading
        assert await items.record(run_id, token, graded(1, FAIL))
        assert await items.record(run_id, token, graded(2, ERROR))
        run = await runs.get("proj_a", None, run_id)
        assert (run.passed, run.failed, run.errored) == (1, 1, 1)
        assert await runs.criteria(run_id) == [("c", 1, 1)]
        (usage,) = await items.usage(run_id)
        assert (usage.invocations, usage.prompt_tokens, usage.completion_tokens) == (3, 15, 6)
        assert await items.done(run_id) == {0, 1, 2}

    run(url, scenario)


def test_a_holder_that_lost_its_run_records_nothing(url: str) -> None:
    async def scenario(evals: EvalStore, runs: EvalRunStore, items: EvalItemStore) -> None:
        run_id = await new_run(evals, runs)
        claimed = await runs.claim(run_id, timedelta(seconds=-1))  # its lease ran out
        assert claimed is not None
        stale = claimed[1]
        retaken = await runs.claim(run_id, LEASE)
        assert retaken is not None
        assert retaken[2]  # taken over from a holder that did not let go
        with pytest.raises(NotHeld):
            await items.record(run_id, stale, graded(0, PASS))
        assert await items.record(run_id, retaken[1], graded(0, PASS))
        cancelled = await runs.cancel("proj_a", retaken[0].eval_id, run_id)
        assert cancelled.status == CANCELED
        with pytest.raises(NotHeld):
            await items.record(run_id, retaken[1], graded(1, PASS))
        assert not await runs.heartbeat(run_id, retaken[1], LEASE)
        run = await runs.get("proj_a", None, run_id)
        assert run.passed == 1

    run(url, scenario)
