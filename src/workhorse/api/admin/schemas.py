"""Wire shapes of ``/v1/admin``: projects and their API keys."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from workhorse.governance.keys import Scope
from workhorse.store.api_keys import MAX_GRACE

Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"\S")]
ModelId = Annotated[str, Field(min_length=1, max_length=400)]
Scopes = Annotated[list[Scope], Field(min_length=1, max_length=len(Scope))]
UnixTime = Annotated[int, Field(ge=0, le=253402300799)]
"""Seconds since 1970 (up to the year 9999)."""


PerMinute = Annotated[int, Field(ge=1, le=10**12)]


class BudgetSpec(BaseModel):
    """At most ``tokens`` (prompt and output) per UTC day or calendar month."""

    model_config = ConfigDict(extra="forbid")

    tokens: Annotated[int, Field(ge=1, le=10**15)]
    period: Literal["day", "month"]
    mode: Literal["hard", "soft"] = Field(
        default="hard", description="hard: 429 budget_exceeded past it; soft: allowed, warned."
    )


class LimitsSpec(BaseModel):
    """What a key or project may spend; a field left out or null is not limited."""

    model_config = ConfigDict(extra="forbid")

    rpm: PerMinute | None = Field(default=None, description="Requests in any 60 seconds.")
    tpm: PerMinute | None = Field(
        default=None, description="Tokens (prompt and output) in any 60 seconds."
    )
    max_concurrent: Annotated[int, Field(ge=1, le=10**6)] | None = Field(
        default=None, description="Requests running at once."
    )
    budget: BudgetSpec | None = None


class ProjectCreateRequest(BaseModel):
    """A new project."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    limits: LimitsSpec | None = None


class ProjectUpdateRequest(BaseModel):
    """A project's new name or limits; a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    limits: LimitsSpec | None = Field(default=None, description="New limits; null: none.")


class ProjectObject(BaseModel):
    """A project: it owns resources; its keys see them."""

    id: str
    object: Literal["project"] = "project"
    name: str
    created_at: int
    archived_at: int | None
    status: Literal["active", "archived"]
    limits: LimitsSpec


class ProjectList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ProjectObject]


class ApiKeyCreateRequest(BaseModel):
    """A new key; without ``project_id``, a new project named as the key is made for it."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    project_id: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    scopes: Scopes | None = Field(
        default=None, description="Default: every scope but admin. 'admin' makes an admin key."
    )
    models: Annotated[list[ModelId], Field(min_length=1, max_length=256)] | None = Field(
        default=None, description="The only models the key may use; default every model."
    )
    expires_at: UnixTime | None = Field(
        default=None, description="When the key stops working; default never."
    )
    limits: LimitsSpec | None = None


class ApiKeyUpdateRequest(BaseModel):
    """Changes of a key; a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    scopes: Scopes | None = None
    models: Annotated[list[ModelId], Field(min_length=1, max_length=256)] | None = Field(
        default=None, description="A new model list; null lifts it (every model)."
    )
    expires_at: UnixTime | None = Field(
        default=None, description="A new expiry; null: never expires."
    )
    limits: LimitsSpec | None = Field(default=None, description="New limits; null: none.")


class ApiKeyRotateRequest(BaseModel):
    """A new secret for the key; the current one works for the grace period still."""

    model_config = ConfigDict(extra="forbid")

    grace_period_seconds: Annotated[int, Field(ge=0, le=int(MAX_GRACE.total_seconds()))] = 0


class ApiKeyObject(BaseModel):
    """A key as it may be shown: never its secret (only its first characters)."""

    id: str
    object: Literal["api_key"] = "api_key"
    name: str
    project_id: str
    prefix: str
    scopes: list[Scope]
    models: list[str] | None
    created_at: int
    expires_at: int | None
    revoked_at: int | None
    rotated_at: int | None
    previous_valid_until: int | None
    status: Literal["active", "revoked", "expired"]
    limits: LimitsSpec


class ApiKeyCreated(ApiKeyObject):
    """A key just created or rotated: ``key`` is its secret, shown this once."""

    key: str


class ApiKeyList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ApiKeyObject]


class ApiKeyDeleted(BaseModel):
    """A revoked key (its record stays, revoked, in the list)."""

    id: str
    object: Literal["api_key.deleted"] = "api_key.deleted"
    deleted: Literal[True] = True
