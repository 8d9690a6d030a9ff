"""Idempotency-Key on every POST (draft-ietf-httpapi-idempotency-key-header).

- ``claim_idempotency_key`` runs in the body dependency, after validation: the request's
  fingerprint is the SHA-256 of its canonical validated fields (so the same request sent
  as JSON or as a form is the same request; files count by their hash). The claim in
  the shared database either lets this request run, replays the stored response
  (``Idempotent-Replayed: true``), or refuses: 409 while the first is running, 422 for a
  different request under the same key, 400 for a malformed key.
- ``IdempotencyMiddleware`` records the response of a request that claimed a key, every
  byte of it (a stream's whole event stream), and stores it when it completes. A 5xx, or
  a response cut short (a client that went away mid-stream), releases the claim
  instead, so that a retry runs again rather than replaying a failure. An answer holding
  a secret is stored sealed (``sealing``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

import anyio
from fastapi import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workhorse.errors import IdempotencyInProgress, IdempotencyKeyReused, InvalidRequest
from workhorse.governance.keys import ApiKeyRecord
from workhorse.http.deps import get_container
from workhorse.http.sealing import is_sealed, seal, unseal
from workhorse.store.idempotency import (
    Claimed,
    IdempotencyStore,
    Mismatch,
    Running,
    StoredResponse,
)
from workhorse.store.idempotency import Scope as KeyScope

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255
MAX_STORED_BODY = 32 * 1024 * 1024
# Headers that describe this transmission rather than the resource: not replayed.
_TRANSIENT = {"date", "server", "content-length", "transfer-encoding", "connection", "x-request-id"}


class Replay(Exception):
    """Answer with a stored response instead of running the request."""

    def __init__(self, stored: StoredResponse) -> None:
        super().__init__("replay")
        self.stored = stored


def validate_key(key: str) -> str:
    """The key, or 400 when it is empty, too long or not printable ASCII."""
    if not key:
        raise InvalidRequest("Idempotency-Key must not be empty", param="Idempotency-Key")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidRequest(
            f"Idempotency-Key is longer than {MAX_KEY_LENGTH} characters",
            param="Idempotency-Key",
        )
    if not all(0x20 <= ord(c) < 0x7F for c in key):
        raise InvalidRequest("Idempotency-Key must be printable ASCII", param="Idempotency-Key")
    return key


def fingerprint(operation: str, fields: Any) -> str:
    """SHA-256 of the canonical form of a validated request."""
    canonical = json.dumps(
        {"operation": operation, "fields": fields},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def claim_idempotency_key(request: Request, api_key: ApiKeyRecord, fields: Any) -> None:
    """Claim the request's Idempotency-Key, if it sent one; raise to replay or refuse."""
    raw = request.headers.get(HEADER)
    if raw is None:
        return
    request.state.idempotency = "invalid"
    key = validate_key(raw)
    container = get_container(request)
    scope = KeyScope(api_key.id, request.method, request.url.path, key)
    result = await container.idempotency.claim(
        scope,
        fingerprint(f"{request.method} {request.url.path}", fields),
        request.state.request_id,
    )
    request.state.idempotency = _outcome(result)
    if isinstance(result, Claimed):
        request.state.idempotency_claim = result
        return
    if isinstance(result, StoredResponse):
        if is_sealed(result.body):
            result = replace(result, body=unseal(request, result.body))
        container.metrics.idempotent_replays.inc()
        raise Replay(result)
    if isinstance(result, Running):
        retry_after = str(container.settings.retry_after_s)
        raise IdempotencyInProgress(
            "a request with this Idempotency-Key is still running; retry after it finishes",
            param="Idempotency-Key",
            headers={"Retry-After": retry_after},
        )
    assert isinstance(result, Mismatch)
    raise IdempotencyKeyReused(
        "this Idempotency-Key was already used for a different request",
        param="Idempotency-Key",
    )


def _outcome(result: Claimed | Running | Mismatch | StoredResponse) -> str:
    """The claim's outcome as the request records and metrics name it."""
    if isinstance(result, Claimed):
        return "expired_takeover" if result.takeover else "claimed"
    if isinstance(result, StoredResponse):
        return "replayed"
    return "conflict" if isinstance(result, Running) else "mismatch"


def replay_response(stored: StoredResponse) -> Response:
    """The stored response, marked as a replay."""
    response = Response(content=stored.body, status_code=stored.status)
    for name, value in stored.headers:
        response.headers.append(name, value)
    response.headers["Idempotent-Replayed"] = "true"
    return response


class IdempotencyMiddleware:
    """Stores the response of every request that claimed an Idempotency-Key.

    The response is stored before its last bytes are sent: a client holding the whole
    answer can count on a retry replaying it, never finding the key still "running".
    """

    def __init__(self, app: ASGIApp, *, store: IdempotencyStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        status = 0
        headers: list[tuple[str, str]] = []
        body = bytearray()
        stored = False

        async def recording_send(message: Message) -> None:
            nonlocal status, stored
            if message["type"] == "http.response.start":
                status = message["status"]
                headers.extend(
                    (k.decode("latin-1"), v.decode("latin-1"))
                    for k, v in message.get("headers", [])
                    if k.decode("latin-1").lower() not in _TRANSIENT
                )
            elif message["type"] == "http.response.body":
                if len(body) <= MAX_STORED_BODY:
                    body.extend(message.get("body", b""))
                claim = scope.get("state", {}).get("idempotency_claim")
                last = not message.get("more_body", False)
                storable = status < 500 and len(body) <= MAX_STORED_BODY
                if isinstance(claim, Claimed) and last and storable:
                    seal_key = scope.get("state", {}).get("replay_seal")
                    kept = seal(seal_key, bytes(body)) if seal_key else bytes(body)
                    with anyio.CancelScope(shield=True):
                        await self.store.complete(claim, StoredResponse(status, headers, kept))
                    stored = True
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            claim = scope.get("state", {}).get("idempotency_claim")
            if isinstance(claim, Claimed) and not stored:
                with anyio.CancelScope(shield=True):
                    await self.store.release(claim)
