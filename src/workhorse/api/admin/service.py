"""Projects and keys through the admin API: the stores' operations in wire shapes."""

from __future__ import annotations

from datetime import UTC, datetime

from workhorse.api.admin.schemas import (
    ApiKeyCreated,
    ApiKeyCreateRequest,
    ApiKeyObject,
    ApiKeyUpdateRequest,
    BudgetSpec,
    LimitsSpec,
    ProjectCreateRequest,
    ProjectObject,
    ProjectUpdateRequest,
)
from workhorse.container import Container
from workhorse.governance.keys import PROJECT_SCOPES, ApiKeyRecord, KeyChanges
from workhorse.governance.limits import NO_LIMITS, Budget, Limits
from workhorse.store.projects import ProjectRecord


def _unix(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def _moment(unix: int | None) -> datetime | None:
    return datetime.fromtimestamp(unix, UTC) if unix is not None else None


def limits_spec(limits: Limits) -> LimitsSpec:
    budget = limits.budget
    return LimitsSpec(
        rpm=limits.rpm,
        tpm=limits.tpm,
        max_concurrent=limits.max_concurrent,
        budget=BudgetSpec(
            tokens=budget.tokens, period=budget.period, mode="hard" if budget.hard else "soft"
        )
        if budget is not None
        else None,
    )


def limits_of(spec: LimitsSpec | None) -> Limits:
    if spec is None:
        return NO_LIMITS
    budget = spec.budget
    return Limits(
        rpm=spec.rpm,
        tpm=spec.tpm,
        max_concurrent=spec.max_concurrent,
        budget=Budget(budget.tokens, budget.period, hard=budget.mode == "hard")
        if budget is not None
        else None,
    )


def project_object(record: ProjectRecord) -> ProjectObject:
    return ProjectObject(
        id=record.id,
        name=record.name,
        created_at=int(record.created_at.timestamp()),
        archived_at=_unix(record.archived_at),
        status="archived" if record.archived_at else "active",
        limits=limits_spec(record.limits),
    )


async def create_project(container: Container, body: ProjectCreateRequest) -> ProjectObject:
    return project_object(await container.projects.create(body.name, limits_of(body.limits)))


async def update_project(
    container: Container, project_id: str, body: ProjectUpdateRequest
) -> ProjectObject:
    limits = limits_of(body.limits) if "limits" in body.model_fields_set else None
    record = await container.projects.update(project_id, name=body.name, limits=limits)
    return project_object(record)


def key_object(record: ApiKeyRecord) -> ApiKeyObject:
    return ApiKeyObject(
        id=record.id,
        name=record.name,
        project_id=record.project_id,
        prefix=record.prefix,
        scopes=sorted(record.scopes),
        models=list(record.models) if record.models is not None else None,
        created_at=int(record.created_at.timestamp()),
        expires_at=_unix(record.expires_at),
        revoked_at=_unix(record.revoked_at),
        rotated_at=_unix(record.rotated_at),
        previous_valid_until=_unix(record.previous_valid_until),
        status=record.status(datetime.now(UTC)),
        limits=limits_spec(record.limits),
    )


def created_object(record: ApiKeyRecord, secret: str) -> ApiKeyCreated:
    return ApiKeyCreated(**key_object(record).model_dump(), key=secret)


async def create_key(container: Container, body: ApiKeyCreateRequest) -> ApiKeyCreated:
    if body.project_id is None:
        project_id = (await container.projects.create(body.name)).id
    else:
        project_id = (await container.projects.get(body.project_id)).id
    record, secret = await container.keys.create(
        body.name,
        project_id,
        frozenset(body.scopes) if body.scopes else PROJECT_SCOPES,
        models=tuple(body.models) if body.models is not None else None,
        expires_at=_moment(body.expires_at),
        limits=limits_of(body.limits),
    )
    return created_object(record, secret)


async def update_key(container: Container, key_id: str, body: ApiKeyUpdateRequest) -> ApiKeyObject:
    given = body.model_fields_set
    changes = KeyChanges(
        name=body.name,
        scopes=frozenset(body.scopes) if body.scopes else None,
        models=tuple(body.models) if body.models is not None else None,
        all_models="models" in given and body.models is None,
        expires_at=_moment(body.expires_at),
        clear_expiry="expires_at" in given and body.expires_at is None,
        limits=limits_of(body.limits) if "limits" in given else None,
    )
    return key_object(await container.keys.update(key_id, changes))
