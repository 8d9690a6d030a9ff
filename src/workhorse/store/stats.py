"""Figures of the shared state, for the metrics: jobs waiting, bytes stored.

Read when ``/metrics`` is scraped (at most once a second per process), so every process
shows the same figures of the state they share.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, func, select

from workhorse.store.db import Database
from workhorse.store.fine_tuning import QUEUED, VALIDATING
from workhorse.store.tables import EvalRun, File, FineTuningJob, ResponseRecord, VectorStoreFile

_F = cast(Table, File.__table__)
_V = cast(Table, VectorStoreFile.__table__)
_J = cast(Table, FineTuningJob.__table__)
_R = cast(Table, ResponseRecord.__table__)
_E = cast(Table, EvalRun.__table__)


async def queued_jobs(db: Database) -> dict[str, int]:
    """Jobs waiting for a worker (not held by one), by type."""
    queries = {
        "ingestion": select(func.count())
        .select_from(_V)
        .where(_V.c.status == "in_progress", _V.c.lease_expires_at.is_(None)),
        "training": select(func.count())
        .select_from(_J)
        .where(_J.c.status.in_((VALIDATING, QUEUED)), _J.c.lease_expires_at.is_(None)),
        "background_response": select(func.count())
        .select_from(_R)
        .where(_R.c.status == "queued", _R.c.background.is_(True)),
    }
    async with db.engine.connect() as conn:
        return {kind: int((await conn.execute(q)).scalar() or 0) for kind, q in queries.items()}


async def blob_bytes(db: Database) -> int:
    """Bytes of the distinct contents of every stored file (a blob is kept once)."""
    contents = select(_F.c.sha256, func.max(_F.c.bytes).label("bytes")).group_by(_F.c.sha256)
    query = select(func.coalesce(func.sum(contents.subquery().c.bytes), 0))
    async with db.engine.connect() as conn:
        return int((await conn.execute(query)).scalar() or 0)
