"""Who is calling, and may they: API keys, their scopes and their models.

A key comes as ``Authorization: Bearer <key>`` or ``x-api-key: <key>``. Each router
declares the scope its operations need (``dependencies=[RequireScope(Scope.CHAT)]``);
the check runs before any other dependency, so no body is read for a key that may not
send it. A body naming a ``model`` is checked against the key's model list and, for a
fine-tuned model, against the key's project (another project's model is 404).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import BaseModel

from workhorse.container import Container
from workhorse.errors import AuthenticationFailed, InsufficientScope, ModelNotAllowed, ModelNotFound
from workhorse.governance.keys import ApiKeyRecord, Scope
from workhorse.governance.meter import Meter, subjects_of
from workhorse.http.deps import get_container


def presented_key(request: Request) -> str | None:
    """The key the request presents, if any."""
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
        return None
    key = request.headers.get("x-api-key")
    return key.strip() if key else None


async def require_api_key(request: Request) -> ApiKeyRecord:
    """The caller's key; 401 when it is missing, unknown, revoked or expired."""
    presented = presented_key(request)
    if presented is None:
        raise AuthenticationFailed(
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' "
            "or 'x-api-key: <key>'."
        )
    record = await get_container(request).keys.authenticate(presented)
    if record is None:
        raise AuthenticationFailed(
            "Incorrect API key provided, or the key was revoked, rotated out or expired."
        )
    await admit(request, record)
    return record


async def admit(request: Request, record: ApiKeyRecord) -> Meter:
    """Mark the request as ``record``'s and admit it under the key's and project's limits
    (429 when a limit is reached); the meter then pays for its work."""
    request.state.api_key_id = record.id
    request.state.api_key_name = record.name
    request.state.project_id = record.project_id
    container = get_container(request)
    meter = Meter(
        container.governor,
        record.project_id,
        record.id,
        subjects_of(record.id, record.limits, record.project_id, record.project_limits),
    )
    request.state.meter = meter
    # Admitted before anything else is done (the scope check is cheaper, but a refused
    # request still counts against the key's rate, as OpenAI counts it).
    request.state.admission = await meter.admit(request.state.request_id)
    return meter


ApiKeyDep = Annotated[ApiKeyRecord, Depends(require_api_key)]


async def request_meter(request: Request, key: ApiKeyDep) -> Meter:
    """The request's meter: who pays for it, under which limits."""
    meter: Meter = request.state.meter
    return meter


MeterDep = Annotated[Meter, Depends(request_meter)]


def check_scope(key: ApiKeyRecord, scope: Scope, method: str) -> None:
    """403 ``insufficient_scope`` naming ``scope`` when ``key`` may not do this."""
    if key.allows(scope, method):
        return
    held = ", ".join(sorted(s.value for s in key.scopes)) or "none"
    needed = f"the '{scope.value}' scope" + (
        " (or 'read' for a GET)" if scope is not Scope.ADMIN else " (an admin key)"
    )
    raise InsufficientScope(
        f"This operation needs {needed}; the key {key.id} has: {held}.", param="scope"
    )


class ScopeCheck:
    """A dependency that refuses keys without ``scope`` (the route's whole feature)."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, request: Request, key: ApiKeyDep) -> ApiKeyRecord:
        check_scope(key, self.scope, request.method)
        return key


def RequireScope(scope: Scope) -> Any:
    """``Depends`` marker for a router's or route's ``dependencies``."""
    return Depends(ScopeCheck(scope))


async def check_model_access(container: Container, key: ApiKeyRecord, model_id: str) -> None:
    """403 when ``model_id`` is outside the key's models; 404 for another project's model."""
    if not key.allows_model(model_id):
        allowed = ", ".join(key.models or ())
        raise ModelNotAllowed(
            f"The key {key.id} may not use the model {model_id!r}; it may use: {allowed}.",
            param="model",
        )
    if model_id.startswith("ft:"):
        owner = await _fine_tuned_owner(container, model_id)
        if owner is not None and owner != key.project_id:
            raise ModelNotFound(f"The model {model_id!r} does not exist", param="model")


async def _fine_tuned_owner(container: Container, model_id: str) -> str | None:
    """The project of a fine-tuned model or of a job's checkpoint model, if either exists."""
    tuned = await container.fine_tuned.get(model_id)
    if tuned is not None:
        return tuned.owner
    checkpoint = await container.fine_tuning.checkpoint_by_model(model_id)
    job = await container.fine_tuning.get(None, checkpoint.job_id) if checkpoint else None
    return job.owner if job is not None else None


async def check_body_model(
    request: Request, container: Container, key: ApiKeyRecord, body: BaseModel
) -> None:
    """The model access check for a body with a ``model`` field."""
    model = getattr(body, "model", None)
    if isinstance(model, str):
        request.state.model = model
        await check_model_access(container, key, model)
