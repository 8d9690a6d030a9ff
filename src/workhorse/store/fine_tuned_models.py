"""Models made by fine-tuning jobs: a base GGUF model and a LoRA adapter file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Row, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from workhorse.store.db import Database
from workhorse.store.tables import FineTunedModel

_M = cast(Table, FineTunedModel.__table__)


@dataclass(frozen=True)
class FineTunedRecord:
    """A fine-tuned model."""

    id: str
    owner: str
    job_id: str
    base_model: str
    adapter_path: str
    created_at: datetime


def _record(row: Row[Any]) -> FineTunedRecord:
    r = row._mapping
    return FineTunedRecord(
        r["id"], r["owner"], r["job_id"], r["base_model"], r["adapter_path"], r["created_at"]
    )


class FineTunedModelStore:
    """Registers, finds, lists and deletes fine-tuned models."""

    def __init__(self, db: Database) -> None:
        self._db = db
        dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
        self._insert = dialect.insert

    async def add(
        self, model_id: str, *, owner: str, job_id: str, base_model: str, adapter_path: str
    ) -> None:
        """Register a model (once)."""
        statement = (
            self._insert(_M)
            .values(
                id=model_id,
                owner=owner,
                job_id=job_id,
                base_model=base_model,
                adapter_path=adapter_path,
                created_at=datetime.now(UTC),
            )
            .on_conflict_do_nothing()
        )
        await self._db.write(lambda conn: conn.execute(statement))

    async def get(self, model_id: str) -> FineTunedRecord | None:
        """The model named ``model_id``, or None."""
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(select(_M).where(_M.c.id == model_id))).first()
        return _record(row) if row is not None else None

    async def all(self) -> list[FineTunedRecord]:
        """Every fine-tuned model, oldest first."""
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(select(_M).order_by(_M.c.created_at, _M.c.id))).all()
        return [_record(r) for r in rows]

    async def delete(self, owner: str, model_id: str) -> FineTunedRecord | None:
        """Delete the owner's model; what was deleted, or None."""

        def work(conn: Connection) -> FineTunedRecord | None:
            row = conn.execute(
                delete(_M).where(_M.c.id == model_id, _M.c.owner == owner).returning(*_M.c)
            ).first()
            return _record(row) if row is not None else None

        return await self._db.write(work)
