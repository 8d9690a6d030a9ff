"""API keys: created once, shown once, stored as a SHA-256 hash.

Keys carry 256 random bits, so a fast hash is enough to make the stored form useless
to a reader of the database, and lets a request be authenticated by one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from workhorse.errors import NotFound
from workhorse.store.tables import ApiKey, Marker

KEY_PREFIX = "wh-"
BOOTSTRAP_MARKER = "bootstrap_api_key"
MAX_CACHED_KEYS = 10_000


@dataclass(frozen=True)
class ApiKeyRecord:
    """What may be shown about a key: never the key itself."""

    id: str
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: ApiKey) -> ApiKeyRecord:
        return cls(row.id, row.name, row.prefix, row.created_at, row.revoked_at)


def hash_key(secret: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


class ApiKeyStore:
    """Create, list, revoke and authenticate API keys."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, cache_ttl_s: float = 0.0
    ) -> None:
        self._sessions = sessions
        self._cache_ttl_s = cache_ttl_s
        self._cache: dict[str, tuple[ApiKeyRecord, float]] = {}

    @staticmethod
    def _new_row(name: str) -> tuple[ApiKey, str]:
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKey(
            id="key_" + secrets.token_hex(12),
            name=name,
            key_hash=hash_key(secret),
            prefix=secret[:10],
            created_at=datetime.now(UTC),
            revoked_at=None,
        )
        return row, secret

    async def create(self, name: str) -> tuple[ApiKeyRecord, str]:
        """A new key; the secret is returned here and never again."""
        row, secret = self._new_row(name)
        async with self._sessions.begin() as session:
            session.add(row)
        return ApiKeyRecord.from_row(row), secret

    async def bootstrap(self, name: str = "initial") -> tuple[ApiKeyRecord, str] | None:
        """Create the first key if no key was ever created; atomic across processes."""
        async with self._sessions() as session:
            if (await session.execute(select(ApiKey.id).limit(1))).first() is not None:
                return None
        row, secret = self._new_row(name)
        try:
            async with self._sessions.begin() as session:
                session.add(Marker(name=BOOTSTRAP_MARKER, value=row.id, created_at=row.created_at))
                await session.flush()
                session.add(row)
        except IntegrityError:
            return None  # another process created it first
        return ApiKeyRecord.from_row(row), secret

    async def all(self) -> list[ApiKeyRecord]:
        """Every key, oldest first, revoked ones included."""
        async with self._sessions() as session:
            rows = await session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id))
            return [ApiKeyRecord.from_row(row) for row in rows]

    async def revoke(self, id_or_name: str) -> list[ApiKeyRecord]:
        """Revoke the key with this id, or every active key with this name."""
        now = datetime.now(UTC)
        async with self._sessions.begin() as session:
            rows = list(
                await session.scalars(
                    select(ApiKey).where(
                        or_(ApiKey.id == id_or_name, ApiKey.name == id_or_name),
                        ApiKey.revoked_at.is_(None),
                    )
                )
            )
            if not rows:
                raise NotFound(f"no active API key with id or name {id_or_name!r}")
            for row in rows:
                row.revoked_at = now
            revoked = [ApiKeyRecord.from_row(row) for row in rows]
        ids = {record.id for record in revoked}
        self._cache = {h: hit for h, hit in self._cache.items() if hit[0].id not in ids}
        return revoked

    async def authenticate(self, secret: str) -> ApiKeyRecord | None:
        """The active key matching ``secret``, or None.

        A key found active is trusted for ``cache_ttl_s`` without asking the database
        again: a revocation made elsewhere takes effect within that time. Unknown keys
        are never cached.
        """
        if not secret.startswith(KEY_PREFIX) or len(secret) > 256:
            return None
        digest = hash_key(secret)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and now - hit[1] < self._cache_ttl_s:
            return hit[0]
        table = ApiKey.__table__
        query = select(table).where(table.c.key_hash == digest, table.c.revoked_at.is_(None))
        async with self._sessions() as session:
            row = (await session.execute(query)).first()
        if row is None:
            self._cache.pop(digest, None)
            return None
        record = ApiKeyRecord(row.id, row.name, row.prefix, row.created_at, row.revoked_at)
        if self._cache_ttl_s > 0:
            if len(self._cache) >= MAX_CACHED_KEYS:
                self._cache.clear()
            self._cache[digest] = (record, now)
        return record
