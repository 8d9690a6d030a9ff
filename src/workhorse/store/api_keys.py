"""API keys: created once, shown once, stored as a SHA-256 hash; each belongs to a project.

Keys carry 256 random bits, so a fast hash is enough to make the stored form useless
to a reader of the database, and lets a request be authenticated by one indexed lookup.

A key has scopes (what it may do), optionally a list of models and an expiry. Rotation
gives the same key id a new secret; the old secret stays valid for a grace period
chosen at rotation (one previous secret at a time: rotating again ends the grace of
the one before).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from workhorse.errors import Conflict, InvalidRequest, NotFound
from workhorse.governance.keys import (
    PROJECT_SCOPES,
    ApiKeyRecord,
    KeyChanges,
    Scope,
    scopes_text,
)
from workhorse.governance.limits import NO_LIMITS, Limits
from workhorse.store.projects import new_project_row
from workhorse.store.tables import ApiKey, Marker, Project

KEY_PREFIX = "wh-"
BOOTSTRAP_MARKER = "bootstrap_api_key"
MAX_CACHED_KEYS = 10_000
MAX_GRACE = timedelta(days=30)


@dataclass
class _Cached:
    record: ApiKeyRecord
    at: float
    valid_until: datetime | None = field(default=None)


def hash_key(secret: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def usable_at(wall: datetime) -> tuple[ColumnElement[bool], ...]:
    """What makes a key usable at ``wall``, in a query that joins its ``Project``: not
    revoked, not expired, its project not archived."""
    return (
        ApiKey.revoked_at.is_(None),
        or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > wall),
        Project.archived_at.is_(None),
    )


def _new_secret() -> tuple[str, str, str]:
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    return secret, hash_key(secret), secret[:10]


class ApiKeyStore:
    """Create, list, update, rotate, revoke and authenticate API keys."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, cache_ttl_s: float = 0.0
    ) -> None:
        self._sessions = sessions
        self._cache_ttl_s = cache_ttl_s
        self._cache: dict[str, _Cached] = {}

    @staticmethod
    def _new_row(
        name: str,
        project_id: str,
        scopes: frozenset[Scope],
        models: tuple[str, ...] | None = None,
        expires_at: datetime | None = None,
        limits: Limits = NO_LIMITS,
    ) -> tuple[ApiKey, str]:
        secret, digest, prefix = _new_secret()
        row = ApiKey(
            id="key_" + secrets.token_hex(12),
            name=name,
            key_hash=digest,
            prefix=prefix,
            created_at=datetime.now(UTC),
            revoked_at=None,
            project_id=project_id,
            scopes=scopes_text(scopes),
            models_json=json.dumps(list(models)) if models is not None else None,
            expires_at=expires_at,
            limits_json=limits.to_json(),
        )
        return row, secret

    async def create(
        self,
        name: str,
        project_id: str,
        scopes: frozenset[Scope] = PROJECT_SCOPES,
        *,
        models: tuple[str, ...] | None = None,
        expires_at: datetime | None = None,
        limits: Limits = NO_LIMITS,
    ) -> tuple[ApiKeyRecord, str]:
        """A new key of an active project; the secret is returned here and never again.

        The install's first key is an admin key whatever was asked (someone must be able
        to manage the install); ``is_admin`` on the record says so.
        """
        if expires_at is not None and expires_at <= datetime.now(UTC):
            raise InvalidRequest("expires_at is in the past", param="expires_at")
        try:
            return await self._create(
                name, project_id, scopes, models, expires_at, limits, first=True
            )
        except IntegrityError:  # another process claimed the first key meanwhile
            return await self._create(
                name, project_id, scopes, models, expires_at, limits, first=False
            )

    async def _create(
        self,
        name: str,
        project_id: str,
        scopes: frozenset[Scope],
        models: tuple[str, ...] | None,
        expires_at: datetime | None,
        limits: Limits,
        *,
        first: bool,
    ) -> tuple[ApiKeyRecord, str]:
        async with self._sessions.begin() as session:
            project = await session.get(Project, project_id)
            if project is None:
                raise NotFound(f"no project with id {project_id!r}", param="project_id")
            if project.archived_at is not None:
                raise Conflict(
                    f"the project {project_id!r} is archived: it takes no new keys",
                    param="project_id",
                    code="project_archived",
                )
            first = first and await session.get(Marker, BOOTSTRAP_MARKER) is None
            row, secret = self._new_row(
                name, project_id, frozenset(Scope) if first else scopes, models, expires_at, limits
            )
            if first:
                session.add(Marker(name=BOOTSTRAP_MARKER, value=row.id, created_at=row.created_at))
                await session.flush()
            session.add(row)
        return ApiKeyRecord.from_row(row), secret

    async def bootstrap(self, name: str = "initial") -> tuple[ApiKeyRecord, str] | None:
        """The install's first key, an admin key of a first project; once across processes."""
        async with self._sessions() as session:
            if await session.get(Marker, BOOTSTRAP_MARKER) is not None:
                return None
        project = new_project_row("Default project")
        row, secret = self._new_row(name, project.id, frozenset(Scope))
        try:
            async with self._sessions.begin() as session:
                session.add(Marker(name=BOOTSTRAP_MARKER, value=row.id, created_at=row.created_at))
                await session.flush()
                session.add(project)
                await session.flush()
                session.add(row)
        except IntegrityError:
            return None  # another process created it first
        return ApiKeyRecord.from_row(row), secret

    async def all(self, project_id: str | None = None) -> list[ApiKeyRecord]:
        """Every key (of one project, if given), oldest first, revoked ones included."""
        query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
        if project_id is not None:
            query = query.where(ApiKey.project_id == project_id)
        async with self._sessions() as session:
            return [ApiKeyRecord.from_row(row) for row in await session.scalars(query)]

    async def get(self, key_id: str) -> ApiKeyRecord:
        async with self._sessions() as session:
            row = await session.get(ApiKey, key_id)
        if row is None:
            raise NotFound(f"no API key with id {key_id!r}", param="key_id")
        return ApiKeyRecord.from_row(row)

    async def update(self, key_id: str, changes: KeyChanges) -> ApiKeyRecord:
        """Change a key's name, scopes, models or expiry; it keeps its secret."""
        async with self._sessions.begin() as session:
            row = await self._active_row(session, key_id)
            if changes.name is not None:
                row.name = changes.name
            if changes.scopes is not None:
                if Scope.ADMIN not in changes.scopes:
                    await self._keep_an_admin(session, row, "remove the admin scope of")
                row.scopes = scopes_text(changes.scopes)
            if changes.all_models:
                row.models_json = None
            elif changes.models is not None:
                row.models_json = json.dumps(list(changes.models))
            if changes.clear_expiry:
                row.expires_at = None
            elif changes.expires_at is not None:
                row.expires_at = changes.expires_at
            if changes.limits is not None:
                row.limits_json = changes.limits.to_json()
            record = ApiKeyRecord.from_row(row)
        self.forget({key_id})
        return record

    async def rotate(self, key_id: str, grace_s: int) -> tuple[ApiKeyRecord, str]:
        """A new secret for the key; the current one stays valid for ``grace_s`` seconds."""
        if not 0 <= grace_s <= MAX_GRACE.total_seconds():
            raise InvalidRequest(
                f"the grace period is 0 to {int(MAX_GRACE.total_seconds())} seconds",
                param="grace_period_seconds",
            )
        secret, digest, prefix = _new_secret()
        now = datetime.now(UTC)
        async with self._sessions.begin() as session:
            row = await self._active_row(session, key_id)
            row.previous_key_hash = row.key_hash if grace_s > 0 else None
            row.previous_valid_until = now + timedelta(seconds=grace_s) if grace_s > 0 else None
            row.key_hash = digest
            row.prefix = prefix
            row.rotated_at = now
            record = ApiKeyRecord.from_row(row)
        self.forget({key_id})
        return record, secret

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
                await self._keep_an_admin(session, row, "revoke", leaving={r.id for r in rows})
            for row in rows:
                row.revoked_at = now
            revoked = [ApiKeyRecord.from_row(row) for row in rows]
        self.forget({record.id for record in revoked})
        return revoked

    async def revoke_id(self, key_id: str) -> ApiKeyRecord:
        """Revoke the key with this id (idempotent: a revoked key stays revoked)."""
        async with self._sessions.begin() as session:
            row = await session.get(ApiKey, key_id)
            if row is None:
                raise NotFound(f"no API key with id {key_id!r}", param="key_id")
            if row.revoked_at is None:
                await self._keep_an_admin(session, row, "revoke")
                row.revoked_at = datetime.now(UTC)
            record = ApiKeyRecord.from_row(row)
        self.forget({key_id})
        return record

    async def revoke_project(self, session: AsyncSession, project_id: str) -> set[str]:
        """Revoke every key of a project, in the caller's transaction (archiving)."""
        rows = list(
            await session.scalars(
                select(ApiKey).where(ApiKey.project_id == project_id, ApiKey.revoked_at.is_(None))
            )
        )
        ids = {row.id for row in rows}
        for row in rows:
            await self._keep_an_admin(session, row, "archive the project of", leaving=ids)
        now = datetime.now(UTC)
        for row in rows:
            row.revoked_at = now
        return ids

    def forget(self, ids: set[str]) -> None:
        self._cache = {h: hit for h, hit in self._cache.items() if hit.record.id not in ids}

    @staticmethod
    async def _active_row(session: AsyncSession, key_id: str) -> ApiKey:
        row = await session.get(ApiKey, key_id)
        if row is None:
            raise NotFound(f"no API key with id {key_id!r}", param="key_id")
        if row.revoked_at is not None:
            raise Conflict(f"the API key {key_id!r} is revoked", code="key_revoked")
        return row

    @staticmethod
    async def _keep_an_admin(
        session: AsyncSession, row: ApiKey, action: str, leaving: set[str] | None = None
    ) -> None:
        """409 when ``row`` is an admin key and no other usable admin key would remain."""
        if "admin" not in row.scopes.split():
            return
        now = datetime.now(UTC)
        gone = leaving or {row.id}
        others = await session.scalar(
            select(func.count())
            .select_from(ApiKey)
            .join(Project, Project.id == ApiKey.project_id)
            .where(
                ApiKey.id.not_in(gone),
                ApiKey.revoked_at.is_(None),
                ApiKey.scopes.like("%admin%"),
                or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
                Project.archived_at.is_(None),
            )
        )
        if not others:
            raise Conflict(
                f"cannot {action} the last admin key {row.id!r}: create another admin key first",
                code="last_admin_key",
            )

    async def authenticate(self, secret: str) -> ApiKeyRecord | None:
        """The usable key matching ``secret``, or None.

        Usable: not revoked, not expired, its project not archived, and the secret either
        the current one or the one a rotation replaced, within its grace period. A key
        found usable is trusted for ``cache_ttl_s`` without asking the database again
        (never past its expiry or grace): a revocation made elsewhere takes effect within
        that time. Unknown keys are never cached.
        """
        if not secret.startswith(KEY_PREFIX) or len(secret) > 256:
            return None
        digest = hash_key(secret)
        now = time.monotonic()
        wall = datetime.now(UTC)
        hit = self._cache.get(digest)
        if (
            hit is not None
            and now - hit.at < self._cache_ttl_s
            and (hit.valid_until is None or wall < hit.valid_until)
        ):
            return hit.record
        query = (
            select(ApiKey, Project.limits_json)
            .join(Project, Project.id == ApiKey.project_id)
            .where(
                or_(
                    ApiKey.key_hash == digest,
                    and_(ApiKey.previous_key_hash == digest, ApiKey.previous_valid_until > wall),
                ),
                *usable_at(wall),
            )
        )
        async with self._sessions() as session:
            found = (await session.execute(query)).first()
            record = ApiKeyRecord.from_row(found[0], found[1]) if found is not None else None
            by_previous = found is not None and found[0].key_hash != digest
        if record is None:
            self._cache.pop(digest, None)
            return None
        if self._cache_ttl_s > 0:
            ends = [t for t in (record.expires_at,) if t is not None]
            if by_previous and record.previous_valid_until is not None:
                ends.append(record.previous_valid_until)
            if len(self._cache) >= MAX_CACHED_KEYS:
                self._cache.clear()
            self._cache[digest] = _Cached(record, now, min(ends) if ends else None)
        return record
