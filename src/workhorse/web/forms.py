"""A console form runs once, however often it is sent.

Every action form carries an ``idempotency_key`` made when its page was rendered, and
goes through the same Idempotency-Key records as the API (``store/idempotency.py``): the
first POST claims the key and runs; a double click or a resubmitted form while it runs
waits for it, and afterwards is answered with the same redirect, so a message is never
sent twice. The same key with other content (an edited, resubmitted form) is refused.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from workhorse.errors import IdempotencyInProgress, IdempotencyKeyReused, InvalidRequest
from workhorse.http.deps import get_container
from workhorse.http.idempotency import fingerprint, validate_key
from workhorse.http.multipart import ReceivedFile
from workhorse.http.sealing import derive, is_sealed, open_sealed, seal
from workhorse.store.idempotency import Claimed, Mismatch, Running, Scope, StoredResponse
from workhorse.web.session import Visitor

WAIT_FOR_FIRST_S = 30.0
UNSIGNED = frozenset({"csrf_token", "idempotency_key"})


def new_form_key() -> str:
    """The ``idempotency_key`` of a form about to be rendered."""
    return "form-" + secrets.token_urlsafe(18)


def redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


def _location(stored: StoredResponse) -> str:
    for name, value in stored.headers:
        if name.lower() == "location":
            return value
    return "/"


def _signed(value: object) -> str:
    if isinstance(value, ReceivedFile):  # a file counts by its content
        return f"file:{value.sha256}:{value.size}:{value.filename}"
    return str(value)


async def once(
    request: Request,
    visitor: Visitor,
    form: FormData | Sequence[tuple[str, object]],
    action: Callable[[], Awaitable[str | HTMLResponse]],
) -> Response:
    """Run ``action`` once per form key; every sending of the form gets its answer.

    ``action`` returns where to go next (answered with a redirect there), or a page that
    shows a secret once (a new API key): that page is stored sealed under the session's
    token, so only this session's resubmission opens it again. ``form`` is a parsed
    form, or the fields of a multipart one (files as ``ReceivedFile``)."""
    pairs = list(form.multi_items()) if isinstance(form, FormData) else list(form)
    key = next((v for n, v in pairs if n == "idempotency_key"), None)
    if not isinstance(key, str):
        raise InvalidRequest(
            "This form has no idempotency_key; reload the page and send it again.",
            param="idempotency_key",
        )
    validate_key(key)
    fields = sorted((name, _signed(value)) for name, value in pairs if name not in UNSIGNED)
    container = get_container(request)
    scope = Scope(visitor.key.id, "POST", request.url.path, key)
    digest = fingerprint(f"console POST {request.url.path}", fields)
    deadline = time.monotonic() + WAIT_FOR_FIRST_S
    while True:
        result = await container.idempotency.claim(scope, digest, request.state.request_id)
        if isinstance(result, Claimed):
            break
        if isinstance(result, StoredResponse):
            container.metrics.idempotent_replays.inc()
            return _replayed(result, derive(visitor.token, key, request.url.path))
        if isinstance(result, Mismatch):
            raise IdempotencyKeyReused(
                "This form was already sent with other content; reload the page to send a new one.",
                param="idempotency_key",
            )
        assert isinstance(result, Running)
        if time.monotonic() > deadline:
            raise IdempotencyInProgress(
                "This form is still being handled; reload the page in a moment.",
                param="idempotency_key",
                headers={"Retry-After": str(container.settings.retry_after_s)},
            )
        # A double click: the first sending is running; answer this one as it ends.
        await asyncio.sleep(0.05)
    try:
        answer = await action()
    except BaseException:
        await container.idempotency.release(result)
        raise
    if isinstance(answer, str):
        stored = StoredResponse(303, [("location", answer)], b"")
        await container.idempotency.complete(result, stored)
        return redirect(answer)
    body = seal(derive(visitor.token, key, request.url.path), bytes(answer.body))
    await container.idempotency.complete(result, StoredResponse(answer.status_code, [], body))
    return answer


def _replayed(stored: StoredResponse, seal_key: bytes) -> Response:
    """The answer a form's first sending got, for this sending."""
    if not is_sealed(stored.body):
        return redirect(_location(stored))
    opened = open_sealed(seal_key, stored.body)
    if opened is None:  # another session's form key: nothing to show it
        raise IdempotencyKeyReused(
            "This form was already sent from another session; reload the page.",
            param="idempotency_key",
        )
    return HTMLResponse(opened, status_code=stored.status)
