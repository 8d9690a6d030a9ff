"""API key authentication: ``Authorization: Bearer <key>`` or ``x-api-key: <key>``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from workhorse.errors import AuthenticationFailed
from workhorse.http.deps import get_container
from workhorse.store.api_keys import ApiKeyRecord


def _presented_key(request: Request) -> str | None:
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
        return None
    key = request.headers.get("x-api-key")
    return key.strip() if key else None


async def require_api_key(request: Request) -> ApiKeyRecord:
    """The caller's key; 401 when it is missing, unknown or revoked."""
    presented = _presented_key(request)
    if presented is None:
        raise AuthenticationFailed(
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' "
            "or 'x-api-key: <key>'."
        )
    record = await get_container(request).keys.authenticate(presented)
    if record is None:
        raise AuthenticationFailed("Incorrect API key provided, or the key was revoked.")
    request.state.api_key_id = record.id
    return record


ApiKeyDep = Annotated[ApiKeyRecord, Depends(require_api_key)]
