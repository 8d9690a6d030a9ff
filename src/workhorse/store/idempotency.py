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

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from workhorse.store.tables import IdempotencyRecord

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


@dataclass(frozen=True)
class Running:
    """Another request with this key is still running."""


@dataclass(frozen=True)
class Mismatch:
    """The key was used for a different request."""


ClaimResult = Claimed | Running | Mismatch | StoredResponse


class IdempotencyStore:
    """Claims, completes, releases and expires Idempotency-Key records."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        ttl: timedelta,
        lease: timedelta,
    ) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._lease = lease

    async def claim(self, scope: Scope, fingerprint: str, request_id: str) -> ClaimResult:
        """Claim ``scope`` for this request, or say why not."""
        digest = scope.digest()
        for _ in range(3):
            now = datetime.now(UTC)
            async with self._sessions.begin() as session:
                if await self._insert(session, scope, digest, fingerprint, request_id, now):
                    return Claimed(digest)
                row = await session.get(IdempotencyRecord, digest)
                if row is None:
                    continue  # expired and deleted between our insert and read
                if row.expires_at <= now:
                    await session.execute(
                        delete(IdempotencyRecord).where(
                            IdempotencyRecord.scope_hash == digest,
                            IdempotencyRecord.expires_at <= now,
                        )
                    )
                    continue
                if row.fingerprint != fingerprint:
                    return Mismatch()
                if row.state == DONE:
                    return StoredResponse(
                        row.status_code or 500,
                        [tuple(h) for h in json.loads(row.headers_json or "[]")],
                        row.body or b"",
                    )
                if row.lease_expires_at > now:
                    return Running()
                taken = await session.execute(
                    update(IdempotencyRecord)
                    .where(
                        IdempotencyRecord.scope_hash == digest,
                        IdempotencyRecord.state == RUNNING,
                        IdempotencyRecord.lease_expires_at <= now,
                    )
                    .values(lease_expires_at=now + self._lease, request_id=request_id)
                )
                if taken.rowcount == 1:  # type: ignore[attr-defined]
                    return Claimed(digest)
                return Running()
        return Running()

    async def _insert(
        self,
        session: AsyncSession,
        scope: Scope,
        digest: str,
        fingerprint: str,
        request_id: str,
        now: datetime,
    ) -> bool:
        values = {
            "scope_hash": digest,
            "api_key_id": scope.api_key_id,
            "method": scope.method,
            "path": scope.path,
            "idempotency_key": scope.key,
            "fingerprint": fingerprint,
            "state": RUNNING,
            "request_id": request_id,
            "lease_expires_at": now + self._lease,
            "expires_at": now + self._ttl,
            "created_at": now,
        }
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(IdempotencyRecord)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(IdempotencyRecord.scope_hash)
        )
        # RETURNING, not rowcount: drivers disagree on rowcount for ON CONFLICT DO NOTHING.
        return (await session.execute(statement)).first() is not None

    async def complete(self, claim: Claimed, response: StoredResponse) -> None:
        """Store the response that later requests with this key replay."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.scope_hash == claim.scope_hash)
                .values(
                    state=DONE,
                    completed_at=datetime.now(UTC),
                    status_code=response.status,
                    headers_json=json.dumps(response.headers),
                    body=response.body,
                )
            )

    async def release(self, claim: Claimed) -> None:
        """Forget the claim (the request failed on our side): a retry will run again."""
        async with self._sessions.begin() as session:
            await session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.scope_hash == claim.scope_hash,
                    IdempotencyRecord.state == RUNNING,
                )
            )

    async def purge_expired(self) -> int:
        """Delete records past their retention; returns how many."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= datetime.now(UTC))
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def get(self, scope: Scope) -> IdempotencyRecord | None:
        """The record for ``scope`` (for inspection and tests)."""
        async with self._sessions() as session:
            return await session.scalar(
                select(IdempotencyRecord).where(IdempotencyRecord.scope_hash == scope.digest())
            )
