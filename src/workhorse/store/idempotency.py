"""Idempotency-Key records: an atomic claim in the shared database, then the stored answer.

A claim is one ``INSERT … ON CONFLICT DO NOTHING`` on the record's primary key, so of
any number of processes racing with the same key exactly one wins. The winner runs the
request and stores its response; the others see it running (409) or finished (replay).
A claim whose process died is taken over once its lease has passed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from workhorse.store.db import Database
from workhorse.store.tables import IdempotencyRecord

_T = cast(Table, IdempotencyRecord.__table__)
RUNNING = "running"
DONE = "done"


@dataclass(frozen=True)
class Scope:
    """What a key is scoped to: the API key, the method and the path."""

    api_key_id: str
    method: str
    path: str
    key: str

    def digest(self) -> str:
        parts = "\x00".join((self.api_key_id, self.method, self.path, self.key))
        return hashlib.sha256(parts.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class StoredResponse:
    """A finished request's response, replayed as it was."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Claimed:
    """This request owns the key and must run."""

    scope_hash: str
    takeover: bool = False
    """The key was held by a request whose lease expired (its process died)."""


@dataclass(frozen=True)
class Running:
    """Another request with this key is still running."""


@dataclass(frozen=True)
class Mismatch:
    """The key was used for a different request."""


ClaimResult = Claimed | Running | Mismatch | StoredResponse


class IdempotencyStore:
    """Claims, completes, releases and expires Idempotency-Key records.

    Each operation is one synchronous transaction handed to ``Database.write`` whole:
    this runs twice on every POST that carries a key, so it must cost one round trip,
    not one per statement.
    """

    def __init__(self, db: Database, *, ttl: timedelta, lease: timedelta) -> None:
        self._db = db
        self._ttl = ttl
        self._lease = lease
        dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
        self._insert = dialect.insert

    async def claim(self, scope: Scope, fingerprint: str, request_id: str) -> ClaimResult:
        """Claim ``scope`` for this request, or say why not."""
        for _ in range(3):
            result = await self._db.write(
                lambda conn: self._try_claim(conn, scope, fingerprint, request_id)
            )
            if result is not None:
                return result
        return Running()

    def _try_claim(
        self, conn: Connection, scope: Scope, fingerprint: str, request_id: str
    ) -> ClaimResult | None:
        """One attempt; None when the record expired under us (try again)."""
        digest = scope.digest()
        now = datetime.now(UTC)
        inserted = conn.execute(
            self._insert(_T)
            .values(
                scope_hash=digest,
                api_key_id=scope.api_key_id,
                method=scope.method,
                path=scope.path,
                idempotency_key=scope.key,
                fingerprint=fingerprint,
                state=RUNNING,
                request_id=request_id,
                lease_expires_at=now + self._lease,
                expires_at=now + self._ttl,
                created_at=now,
            )
            .on_conflict_do_nothing()
            # RETURNING, not rowcount: drivers disagree on it for DO NOTHING.
            .returning(_T.c.scope_hash)
        )
        if inserted.first() is not None:
            return Claimed(digest)
        row = conn.execute(select(_T).where(_T.c.scope_hash == digest)).first()
        if row is None:
            return None  # deleted between our insert and read
        if row.expires_at <= now:
            conn.execute(delete(_T).where(_T.c.scope_hash == digest, _T.c.expires_at <= now))
            return None
        if row.fingerprint != fingerprint:
            return Mismatch()
        if row.state == DONE:
            return StoredResponse(
                row.status_code or 500,
                [(str(k), str(v)) for k, v in json.loads(row.headers_json or "[]")],
                row.body or b"",
            )
        if row.lease_expires_at > now:
            return Running()
        taken = conn.execute(
            update(_T)
            .where(_T.c.scope_hash == digest, _T.c.state == RUNNING, _T.c.lease_expires_at <= now)
            .values(lease_expires_at=now + self._lease, request_id=request_id)
            .returning(_T.c.scope_hash)
        )
        return Claimed(digest, takeover=True) if taken.first() is not None else Running()

    async def complete(self, claim: Claimed, response: StoredResponse) -> None:
        """Store the response that later requests with this key replay."""
        statement = (
            update(_T)
            .where(_T.c.scope_hash == claim.scope_hash)
            .values(
                state=DONE,
                completed_at=datetime.now(UTC),
                status_code=response.status,
                headers_json=json.dumps(response.headers),
                body=response.body,
            )
        )
        await self._db.write(lambda conn: conn.execute(statement))

    async def release(self, claim: Claimed) -> None:
        """Forget the claim (the request failed on our side): a retry will run again."""
        statement = delete(_T).where(_T.c.scope_hash == claim.scope_hash, _T.c.state == RUNNING)
        await self._db.write(lambda conn: conn.execute(statement))

    async def purge_expired(self) -> int:
        """Delete records past their retention; returns how many."""
        statement = (
            delete(_T).where(_T.c.expires_at <= datetime.now(UTC)).returning(_T.c.scope_hash)
        )
        return await self._db.write(lambda conn: len(conn.execute(statement).all()))
