"""Large files for a knowledge base, in parts, from the page's script.

The script makes an Upload (the Uploads API's own records), sends the file's bytes in
parts with a progress bar, and completes it into a File that joins the store. Each step
is safe to repeat, so a dropped connection costs only the part in flight: the script
asks which parts arrived (``GET …/uploads/{id}``) and sends the rest, after a reload
too (it remembers the upload for that file in the browser). These are JSON endpoints of
the console, authenticated by the session cookie, with the CSRF token in a header.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from workhorse.api.uploads import service as uploads_service
from workhorse.api.uploads.schemas import (
    MAX_PART_BYTES,
    UploadCompleteRequest,
    UploadCreateRequest,
)
from workhorse.container import Container
from workhorse.errors import InvalidRequest, PayloadTooLarge
from workhorse.governance.keys import Scope
from workhorse.http.deps import ContainerDep
from workhorse.http.errors import validation_error
from workhorse.http.multipart import ReceivedFile
from workhorse.web.knowledge import PURPOSE, queue_file
from workhorse.web.pages import ConsoleRoute
from workhorse.web.session import Visitor, VisitorDep, check_csrf

router = APIRouter(prefix="/knowledge", route_class=ConsoleRoute, include_in_schema=False)
PART_BYTES = 8 * 1024 * 1024
"""The part size the script sends (an Upload takes up to 64 MiB a part)."""
CsrfHeader = Annotated[str | None, Header(alias="x-csrf-token")]


def _allowed(visitor: Visitor, token: str | None) -> None:
    visitor.require(Scope.FILES, "POST")
    visitor.require(Scope.KNOWLEDGE, "POST")
    check_csrf(token, visitor.csrf_token)


async def _json(request: Request) -> object:
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > 64 * 1024:
        raise InvalidRequest("Send a small JSON body with its Content-Length.")
    try:
        return await request.json()
    except ValueError as exc:
        raise InvalidRequest("The body is not JSON.") from exc


@router.post("/{store_id}/uploads")
async def start(
    store_id: str,
    request: Request,
    visitor: VisitorDep,
    container: ContainerDep,
    csrf: CsrfHeader = None,
) -> JSONResponse:
    """A new Upload for one file of the store: ``{filename, bytes, mime_type}``."""
    _allowed(visitor, csrf)
    await container.vector_stores.get(visitor.key.project_id, store_id)
    given = await _json(request)
    try:
        body = UploadCreateRequest.model_validate(
            {**(given if isinstance(given, dict) else {}), "purpose": PURPOSE}
        )
    except ValidationError as exc:
        raise validation_error(exc.errors()) from exc
    created = await uploads_service.create(container, visitor.key.project_id, body)
    return JSONResponse({"id": created.id, "part_bytes": PART_BYTES, "status": created.status})


@router.get("/{store_id}/uploads/{upload_id}")
async def state(
    store_id: str, upload_id: str, visitor: VisitorDep, container: ContainerDep
) -> JSONResponse:
    """What arrived of an Upload: its parts in order, and its status."""
    visitor.require(Scope.FILES, "GET")
    found = await uploads_service.get(container, visitor.key.project_id, upload_id)
    parts = sorted(
        (await container.uploads.parts(upload_id)).values(), key=lambda p: (p.created_at, p.id)
    )
    return JSONResponse(
        {
            "id": found.id,
            "status": found.status,
            "bytes": found.bytes,
            "parts": [{"id": p.id, "bytes": p.bytes} for p in parts],
            "file_id": found.file.id if found.file is not None else None,
        }
    )


def _write_part(folder: Path, chunks: list[bytes]) -> ReceivedFile:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"part-{secrets.token_hex(16)}"
    digest = hashlib.sha256()
    size = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        for chunk in chunks:
            handle.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    return ReceivedFile(path, None, None, size, digest.hexdigest())


async def _received_part(request: Request, container: Container) -> ReceivedFile:
    """The request's body, at most a part's size, on disk."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_PART_BYTES:
            raise PayloadTooLarge(f"A part may have at most {MAX_PART_BYTES} bytes.")
        chunks.append(chunk)
    folder = container.settings.data_dir / "tmp" / "uploads"
    return await asyncio.to_thread(_write_part, folder, chunks)


@router.post("/{store_id}/uploads/{upload_id}/parts")
async def part(
    store_id: str,
    upload_id: str,
    request: Request,
    visitor: VisitorDep,
    container: ContainerDep,
    csrf: CsrfHeader = None,
) -> JSONResponse:
    """The next part's bytes (the raw body)."""
    _allowed(visitor, csrf)
    received = await _received_part(request, container)
    try:
        added = await uploads_service.add_part(
            container, visitor.key.project_id, upload_id, received
        )
    finally:
        received.path.unlink(missing_ok=True)
    return JSONResponse({"id": added.id})


@router.post("/{store_id}/uploads/{upload_id}/complete")
async def complete(
    store_id: str,
    upload_id: str,
    request: Request,
    visitor: VisitorDep,
    container: ContainerDep,
    csrf: CsrfHeader = None,
) -> JSONResponse:
    """Assemble the parts (``{part_ids}``, in order) into a File, and add it to the store;
    the same request again answers the same."""
    _allowed(visitor, csrf)
    given = await _json(request)
    try:
        body = UploadCompleteRequest.model_validate(given)
    except ValidationError as exc:
        raise validation_error(exc.errors()) from exc
    done = await uploads_service.complete(
        container, visitor.key.project_id, upload_id, body, visitor.meter
    )
    assert done.file is not None
    await queue_file(container, visitor, store_id, done.file.id)
    return JSONResponse({"file_id": done.file.id})
