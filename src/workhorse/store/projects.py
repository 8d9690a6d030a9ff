"""Projects: each owns its resources; archiving one revokes its keys and keeps its data."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from workhorse.errors import Conflict, NotFound
from workhorse.governance.limits import NO_LIMITS, Limits
from workhorse.store.tables import Project

if TYPE_CHECKING:
    from workhorse.store.api_keys import ApiKeyStore


@dataclass(frozen=True)
class ProjectRecord:
    """A project as it may be shown."""

    id: str
    name: str
    created_at: datetime
    archived_at: datetime | None
    limits: Limits = NO_LIMITS

    @classmethod
    def from_row(cls, row: Project) -> ProjectRecord:
        return cls(
            row.id, row.name, row.created_at, row.archived_at, Limits.from_json(row.limits_json)
        )


def new_project_row(name: str) -> Project:
    """A project row not yet added to a session."""
    return Project(
        id="proj_" + secrets.token_hex(12),
        name=name,
        created_at=datetime.now(UTC),
        archived_at=None,
    )


class ProjectStore:
    """Create, list, rename and archive projects."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], keys: ApiKeyStore) -> None:
        self._sessions = sessions
        self._keys = keys

    async def create(self, name: str, limits: Limits = NO_LIMITS) -> ProjectRecord:
        row = new_project_row(name)
        row.limits_json = limits.to_json()
        async with self._sessions.begin() as session:
            session.add(row)
        return ProjectRecord.from_row(row)

    async def all(self, *, include_archived: bool = False) -> list[ProjectRecord]:
        """Projects, oldest first."""
        query = select(Project).order_by(Project.created_at, Project.id)
        if not include_archived:
            query = query.where(Project.archived_at.is_(None))
        async with self._sessions() as session:
            return [ProjectRecord.from_row(row) for row in await session.scalars(query)]

    async def get(self, project_id: str) -> ProjectRecord:
        async with self._sessions() as session:
            row = await session.get(Project, project_id)
        if row is None:
            raise NotFound(f"no project with id {project_id!r}", param="project_id")
        return ProjectRecord.from_row(row)

    async def find(self, id_or_name: str) -> ProjectRecord:
        """A project by id, or the one active project with this name (the CLI's way)."""
        async with self._sessions() as session:
            row = await session.get(Project, id_or_name)
            if row is not None:
                return ProjectRecord.from_row(row)
            rows = list(
                await session.scalars(
                    select(Project).where(Project.name == id_or_name, Project.archived_at.is_(None))
                )
            )
        if not rows:
            raise NotFound(f"no project with id or name {id_or_name!r}", param="project_id")
        if len(rows) > 1:
            raise Conflict(
                f"{len(rows)} projects are named {id_or_name!r}: give the project's id",
                param="project_id",
            )
        return ProjectRecord.from_row(rows[0])

    async def update(
        self, project_id: str, *, name: str | None = None, limits: Limits | None = None
    ) -> ProjectRecord:
        """Rename a project or set its limits (they apply within the auth cache interval)."""
        async with self._sessions.begin() as session:
            row = await session.get(Project, project_id)
            if row is None:
                raise NotFound(f"no project with id {project_id!r}", param="project_id")
            if name is not None:
                row.name = name
            if limits is not None:
                row.limits_json = limits.to_json()
            return ProjectRecord.from_row(row)

    async def archive(self, project_id: str) -> ProjectRecord:
        """Archive a project: its keys are revoked, its resources kept. Idempotent."""
        async with self._sessions.begin() as session:
            row = await session.get(Project, project_id)
            if row is None:
                raise NotFound(f"no project with id {project_id!r}", param="project_id")
            if row.archived_at is None:
                revoked = await self._keys.revoke_project(session, project_id)
                row.archived_at = datetime.now(UTC)
            else:
                revoked = set()
            record = ProjectRecord.from_row(row)
        self._keys.forget(revoked)
        return record
