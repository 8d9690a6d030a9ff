"""Wire shapes of ``/v1/admin``: projects and their API keys."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from workhorse.store.api_keys import MAX_GRACE, Scope

Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"\S")]
ModelId = Annotated[str, Field(min_length=1, max_length=400)]
Scopes = Annotated[list[Scope], Field(min_length=1, max_length=len(Scope))]
UnixTime = Annotated[int, Field(ge=0, le=253402300799)]
"""Seconds since 1970 (up to the year 9999)."""


class ProjectCreateRequest(BaseModel):
    """A new project."""

    model_config = ConfigDict(extra="forbid")

    name: Name


class ProjectUpdateRequest(BaseModel):
    """A project's new name."""

    model_config = ConfigDict(extra="forbid")

    name: Name


class ProjectObject(BaseModel):
    """A project: it owns resources; its keys see them."""

    id: str
    object: Literal["project"] = "project"
    name: str
    created_at: int
    archived_at: int | None
    status: Literal["active", "archived"]


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
