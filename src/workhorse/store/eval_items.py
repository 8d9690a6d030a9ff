"""The graded items of eval runs, and the counts that move with them.

An item is recorded once: ``(run_id, item_index)`` is unique, and the run's counts (its
result counts, each criterion's, each model's usage) change in the same transaction as
the insert, only when the insert happened. A run resumed after a crash, or an item
graded by two holders in the moment of a takeover, so counts every item exactly once.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Row, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from workhorse.errors import NotFound
from workhorse.store.db import Database
from workhorse.store.eval_runs import IN_PROGRESS
from workhorse.store.tables import EvalOutputItem, EvalRun, EvalRunCriterion, EvalRunUsage

_I = cast(Table, EvalOutputItem.__table__)
_R = cast(Table, EvalRun.__table__)
_C = cast(Table, EvalRunCriterion.__table__)
_U = cast(Table, EvalRunUsage.__table__)

PASS, FAIL, ERROR = "pass", "fail", "error"


@dataclass(frozen=True)
class ModelUsage:
    """Tokens one model spent on one item."""

    model: str
    prompt_tokens: int
    completion_tokens: int
    invocations: int = 1


@dataclass(frozen=True)
class GradedItem:
    """One item's outcome: its status, each criterion's result, the sample it graded."""

    index: int
    status: str
    datasource_item: dict[str, Any]
    results: list[dict[str, Any]]
    """One per testing criterion, in order: ``name``, ``type``, ``score``, ``passed``."""
    sample: dict[str, Any]
    usage: list[ModelUsage]


@dataclass(frozen=True)
class OutputItem:
    """A graded item as stored."""

    id: str
    run_id: str
    index: int
    status: str
    datasource_item: dict[str, Any]
    results: list[dict[str, Any]]
    sample: dict[str, Any]
    created_at: int


def _item(row: Row[Any]) -> OutputItem:
    r = row._mapping
    return OutputItem(
        r["id"],
        r["run_id"],
        r["item_index"],
        r["status"],
        json.loads(r["datasource_item_json"]),
        json.loads(r["results_json"]),
        json.loads(r["sample_json"]),
        r["created_at"],
    )


class NotHeld(Exception):
    """The run was canceled, deleted or taken over: its holder stops."""


class EvalItemStore:
    """Record graded items (as the run's holder) and read them (as clients)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
        self._insert = dialect.insert

    async def record(self, run_id: str, token: str, graded: GradedItem) -> bool:
        """Record the item and count it; False when it was recorded before. Raises
        ``NotHeld`` when the caller no longer holds the run."""
        insert = (
            self._insert(_I)
            .values(
                id="outputitem_" + secrets.token_hex(16),
                run_id=run_id,
                item_index=graded.index,
                status=graded.status,
                datasource_item_json=json.dumps(graded.datasource_item),
                results_json=json.dumps(graded.results),
                sample_json=json.dumps(graded.sample),
                created_at=int(time.time()),
            )
            .on_conflict_do_nothing()
            .returning(_I.c.id)
        )

        def work(conn: Connection) -> bool:
            # Locking the run's row (PostgreSQL) orders the counts below between holders.
            held = conn.execute(
                select(_R.c.id)
                .where(_R.c.id == run_id, _R.c.claim_token == token, _R.c.status == IN_PROGRESS)
                .with_for_update()
            ).first()
            if held is None:
                raise NotHeld(run_id)
            counter = {PASS: _R.c.passed, FAIL: _R.c.failed, ERROR: _R.c.errored}[graded.status]
            if conn.execute(insert).first() is None:  # recorded before
                return False
            conn.execute(update(_R).where(_R.c.id == run_id).values({counter: counter + 1}))
            if graded.status != ERROR:
                for position, result in enumerate(graded.results):
                    column = _C.c.passed if result["passed"] else _C.c.failed
                    conn.execute(
                        update(_C)
                        .where(_C.c.run_id == run_id, _C.c.position == position)
                        .values({column: column + 1})
                    )
            for used in graded.usage:
                upsert = self._insert(_U).values(
                    run_id=run_id,
                    model=used.model,
                    invocations=used.invocations,
                    prompt_tokens=used.prompt_tokens,
                    completion_tokens=used.completion_tokens,
                )
                conn.execute(
                    upsert.on_conflict_do_update(
                        index_elements=[_U.c.run_id, _U.c.model],
                        set_={
                            "invocations": _U.c.invocations + upsert.excluded.invocations,
                            "prompt_tokens": _U.c.prompt_tokens + upsert.excluded.prompt_tokens,
                            "completion_tokens": _U.c.completion_tokens
                            + upsert.excluded.completion_tokens,
                        },
                    )
                )
            return True

        return await self._db.write(work)

    async def done(self, run_id: str) -> set[int]:
        """The indexes of the run's items already graded."""
        query = select(_I.c.item_index).where(_I.c.run_id == run_id)
        async with self._db.engine.connect() as conn:
            return {int(r[0]) for r in (await conn.execute(query)).all()}

    async def usage(self, run_id: str) -> list[ModelUsage]:
        """What each model spent on the run so far."""
        query = select(_U).where(_U.c.run_id == run_id).order_by(_U.c.model)
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            ModelUsage(r.model, r.prompt_tokens, r.completion_tokens, r.invocations) for r in rows
        ]

    async def page(
        self,
        run_id: str,
        *,
        status: str | None,
        after: str | None,
        limit: int,
        ascending: bool,
    ) -> tuple[list[OutputItem], bool]:
        """A page of the run's items in grading order, after the item ``after``."""
        query = select(_I).where(_I.c.run_id == run_id)
        if status is not None:
            query = query.where(_I.c.status == status)
        async with self._db.engine.connect() as conn:
            if after is not None:
                seq = (
                    await conn.execute(
                        select(_I.c.seq).where(_I.c.id == after, _I.c.run_id == run_id)
                    )
                ).scalar_one_or_none()
                if seq is not None:
                    query = query.where(_I.c.seq > seq if ascending else _I.c.seq < seq)
            order = _I.c.seq.asc() if ascending else _I.c.seq.desc()
            rows = (await conn.execute(query.order_by(order).limit(limit + 1))).all()
        return [_item(r) for r in rows[:limit]], len(rows) > limit

    async def get(self, run_id: str, item_id: str) -> OutputItem:
        query = select(_I).where(_I.c.run_id == run_id, _I.c.id == item_id)
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise NotFound(f"No output item found with id '{item_id}'.", param="output_item_id")
        return _item(row)
