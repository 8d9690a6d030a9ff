"""What a key is and may do: its scopes, model list, expiry and limits (no storage).

``read`` allows every GET; ``admin`` allows everything. A key whose scopes include
``admin`` is an admin key.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from workhorse.errors import InvalidRequest
from workhorse.governance.limits import NO_LIMITS, Limits

if TYPE_CHECKING:
    from workhorse.store.tables import ApiKey

KeyStatus = Literal["active", "revoked", "expired"]


class Scope(StrEnum):
    """What a key may do. ``read`` allows every GET; ``admin`` allows everything."""

    CHAT = "chat"
    """Chat completions, responses, conversations, Anthropic messages."""
    EMBEDDINGS = "embeddings"
    FILES = "files"
    """Files and uploads."""
    KNOWLEDGE = "knowledge"
    """Vector stores and their search."""
    FINE_TUNING = "fine_tuning"
    """Fine-tuning jobs, and deleting fine-tuned models."""
    READ = "read"
    """Every GET of the project's resources."""
    ADMIN = "admin"
    """Projects, keys and usage of the whole install; implies every other scope."""


PROJECT_SCOPES = frozenset(Scope) - {Scope.ADMIN}
"""Every scope but ``admin``: what a project key gets when none are given."""


def parse_scopes(given: Iterable[str]) -> frozenset[Scope]:
    """Scopes from their names; 400 naming an unknown one."""
    scopes: set[Scope] = set()
    for name in given:
        try:
            scopes.add(Scope(name.strip()))
        except ValueError as exc:
            known = ", ".join(s.value for s in Scope)
            raise InvalidRequest(
                f"unknown scope {name!r}; scopes are: {known}", param="scopes"
            ) from exc
    if not scopes:
        raise InvalidRequest("a key needs at least one scope", param="scopes")
    return frozenset(scopes)


def scopes_text(scopes: frozenset[Scope]) -> str:
    return " ".join(sorted(s.value for s in scopes))


@dataclass(frozen=True)
class ApiKeyRecord:
    """What may be shown about a key: never the key itself."""

    id: str
    name: str
    prefix: str
    project_id: str
    scopes: frozenset[Scope]
    models: tuple[str, ...] | None
    """The only models the key may use; None for every model."""
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    rotated_at: datetime | None = None
    previous_valid_until: datetime | None = None
    """The end of the grace period of the secret the last rotation replaced."""
    limits: Limits = NO_LIMITS
    project_limits: Limits = NO_LIMITS
    """The limits of the key's project (read with the key when it authenticates)."""

    @classmethod
    def from_row(cls, row: ApiKey, project_limits: str | None = None) -> ApiKeyRecord:
        return cls(
            id=row.id,
            name=row.name,
            prefix=row.prefix,
            project_id=row.project_id,
            scopes=frozenset(Scope(s) for s in row.scopes.split()),
            models=tuple(json.loads(row.models_json)) if row.models_json else None,
            created_at=row.created_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            rotated_at=row.rotated_at,
            previous_valid_until=row.previous_valid_until,
            limits=Limits.from_json(row.limits_json),
            project_limits=Limits.from_json(project_limits),
        )

    @property
    def is_admin(self) -> bool:
        return Scope.ADMIN in self.scopes

    def status(self, now: datetime) -> KeyStatus:
        """``active``, ``revoked`` or ``expired``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def allows(self, scope: Scope, method: str) -> bool:
        """Whether an operation needing ``scope`` may run with ``method`` on this key."""
        if self.is_admin or scope in self.scopes:
            return True
        return method in ("GET", "HEAD") and Scope.READ in self.scopes and scope != Scope.ADMIN

    def allows_model(self, model_id: str) -> bool:
        return self.models is None or model_id in self.models


@dataclass(frozen=True)
class KeyChanges:
    """An update of a key: fields left None stay as they are."""

    name: str | None = None
    scopes: frozenset[Scope] | None = None
    models: tuple[str, ...] | None = None
    all_models: bool = False
    """Lift the model list (``models`` None means "unchanged")."""
    expires_at: datetime | None = None
    clear_expiry: bool = False
    limits: Limits | None = None
