"""Signed-in sessions of the web console.

Signing in exchanges an API key for a session: a random token in an HttpOnly cookie,
stored here only as its SHA-256 hash, so the key itself never reaches the browser. A
session lives until it expires, is signed out, or its key stops being usable (revoked,
expired, its project archived, or rotated and the old secret's grace over): every
request reads the session with its key, so a revoked key ends its sessions at once, on
every replica.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from workhorse.governance.keys import ApiKeyRecord
from workhorse.store.api_keys import usable_at
from workhorse.store.tables import ApiKey, ConsoleSession, Project


@dataclass(frozen=True)
class SignedIn:
    """A live session and the key it acts as."""

    id: str
    csrf_token: str
    expires_at: datetime
    key: ApiKeyRecord


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class ConsoleSessionStore:
    """Opens, reads and ends console sessions."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, ttl: timedelta) -> None:
        self._sessions = sessions
        self._ttl = ttl

    async def open(self, key: ApiKeyRecord) -> tuple[SignedIn, str]:
        """A new session for ``key`` and the token its cookie carries."""
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        expires = now + self._ttl
        if key.expires_at is not None:
            expires = min(expires, key.expires_at)
        row = ConsoleSession(
            id="cs_" + secrets.token_hex(12),
            token_hash=_hash(token),
            api_key_id=key.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=expires,
        )
        async with self._sessions() as session, session.begin():
            session.add(row)
        return SignedIn(row.id, row.csrf_token, expires, key), token

    async def find(self, token: str) -> SignedIn | None:
        """The live session the cookie's ``token`` names, or None."""
        if not token or len(token) > 128:
            return None
        now = datetime.now(UTC)
        query = (
            select(ConsoleSession, ApiKey, Project.limits_json)
            .join(ApiKey, ApiKey.id == ConsoleSession.api_key_id)
            .join(Project, Project.id == ApiKey.project_id)
            .where(
                ConsoleSession.token_hash == _hash(token),
                ConsoleSession.revoked_at.is_(None),
                ConsoleSession.expires_at > now,
                *usable_at(now),
                # A session opened with a secret that a rotation replaced lasts as long
                # as that secret's grace period.
                or_(
                    ApiKey.rotated_at.is_(None),
                    ConsoleSession.created_at >= ApiKey.rotated_at,
                    and_(
                        ApiKey.previous_valid_until.is_not(None),
                        ApiKey.previous_valid_until > now,
                    ),
                ),
            )
        )
        async with self._sessions() as session:
            found = (await session.execute(query)).first()
        if found is None:
            return None
        row, key, limits = found
        return SignedIn(row.id, row.csrf_token, row.expires_at, ApiKeyRecord.from_row(key, limits))

    async def close(self, token: str) -> None:
        """End the session (signing out); a token that names none is ignored."""
        statement = (
            update(ConsoleSession)
            .where(ConsoleSession.token_hash == _hash(token), ConsoleSession.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        async with self._sessions() as session, session.begin():
            await session.execute(statement)

    async def purge_expired(self) -> None:
        """Forget sessions that ended a day ago or more."""
        cutoff = datetime.now(UTC) - timedelta(days=1)
        async with self._sessions() as session, session.begin():
            await session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < cutoff))
