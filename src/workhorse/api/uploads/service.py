"""Uploads: a file sent in parts, each streamed to disk, assembled into a File on completion.

Completing claims the upload in the database first (one caller wins), then streams the
parts into the blob store and creates the File exactly as ``POST /v1/files`` does. A
second complete with the same ``part_ids`` answers the completed upload again.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from workhorse.api.files import service as files
from workhorse.api.uploads import disk
from workhorse.api.uploads.schemas import (
    MAX_PART_BYTES,
    UploadCompleteRequest,
    UploadCreateRequest,
    UploadObject,
    UploadPartObject,
    UploadStatus,
)
from workhorse.container import Container
from workhorse.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    WorkhorseError,
)
from workhorse.governance.meter import Meter
from workhorse.http.multipart import ReceivedFile
from workhorse.store.uploads import (
    CANCELLED,
    COMPLETED,
    COMPLETING,
    PENDING,
    PartRecord,
    UploadRecord,
)

log = logging.getLogger("workhorse.uploads")

RETENTION = timedelta(days=1)
"""How long an upload's record outlives its expiry (then ``GET`` answers 404)."""
PURGE_INTERVAL_S = 600


def _timestamp(moment: datetime) -> int:
    return int(moment.timestamp())


def _status(record: UploadRecord) -> UploadStatus:
    if record.is_due(datetime.now(UTC)):
        return "expired"
    if record.status in (PENDING, COMPLETING):
        return "pending"  # being completed is still pending to a client: no File yet
    if record.status == COMPLETED:
        return "completed"
    return "cancelled" if record.status == CANCELLED else "expired"


def _conflict(record: UploadRecord, refused: str) -> Conflict:
    state = "being completed" if record.status == COMPLETING else _status(record)
    return Conflict(f"Upload {record.id} is {state}; {refused}")


def _parts_folder(container: Container, upload_id: str) -> Path:
    return container.settings.data_dir / "uploads" / upload_id


async def to_object(container: Container, record: UploadRecord) -> UploadObject:
    """The API shape of an upload, with its File once completed."""
    file = None
    if record.file_id is not None:
        stored = await container.files.get(record.owner, record.file_id)
        file = files.to_object(stored) if stored is not None else None
    return UploadObject(
        id=record.id,
        bytes=record.bytes,
        created_at=_timestamp(record.created_at),
        expires_at=_timestamp(record.expires_at),
        filename=record.filename,
        purpose=record.purpose,
        status=_status(record),
        file=file,
    )


async def _get(container: Container, owner: str, upload_id: str) -> UploadRecord:
    record = await container.uploads.get(owner, upload_id)
    if record is None:
        raise NotFound(f"No such Upload object: {upload_id}", param="upload_id")
    return record


async def create(container: Container, owner: str, request: UploadCreateRequest) -> UploadObject:
    """A pending upload expecting ``request.bytes`` bytes."""
    record = await container.uploads.create(
        owner,
        files.safe_filename(request.filename),
        request.purpose,
        request.mime_type,
        request.bytes,
    )
    return await to_object(container, record)


async def get(container: Container, owner: str, upload_id: str) -> UploadObject:
    """The owner's upload, or 404."""
    return await to_object(container, await _get(container, owner, upload_id))


async def add_part(
    container: Container, owner: str, upload_id: str, data: ReceivedFile
) -> UploadPartObject:
    """Keep a received part for a pending upload that has room for it."""
    if data.size > MAX_PART_BYTES:
        raise PayloadTooLarge(
            f"a part may have at most {MAX_PART_BYTES} bytes; this one has {data.size}",
            param="data",
        )
    record = await _get(container, owner, upload_id)
    if _status(record) != PENDING or record.status == COMPLETING:
        raise _conflict(record, "it takes no more parts")
    part_id = "part_" + secrets.token_hex(12)
    folder = _parts_folder(container, record.id)
    stored = await asyncio.to_thread(disk.move_part, data.path, folder, part_id)
    try:
        part, current = await container.uploads.add_part(
            owner, record.id, part_id, data.size, data.sha256
        )
    except BaseException:
        stored.unlink(missing_ok=True)
        raise
    if part is not None:
        return UploadPartObject(
            id=part.id, created_at=_timestamp(part.created_at), upload_id=part.upload_id
        )
    stored.unlink(missing_ok=True)
    if current is None:
        raise NotFound(f"No such Upload object: {upload_id}", param="upload_id")
    if current.status != PENDING:
        raise _conflict(current, "it takes no more parts")
    raise InvalidRequest(
        f"this part's {data.size} bytes would bring upload {current.id} to "
        f"{current.received_bytes + data.size} bytes, more than the {current.bytes} "
        "bytes it was created with",
        param="data",
    )


def _chosen_parts(
    record: UploadRecord, parts: dict[str, PartRecord], part_ids: list[str]
) -> list[PartRecord]:
    chosen: list[PartRecord] = []
    seen: set[str] = set()
    for i, part_id in enumerate(part_ids):
        if part_id in seen:
            raise InvalidRequest(
                f"part_ids[{i}]: part {part_id} is listed twice", param=f"part_ids[{i}]"
            )
        if part_id not in parts:
            raise InvalidRequest(
                f"part_ids[{i}]: upload {record.id} has no part {part_id}",
                param=f"part_ids[{i}]",
            )
        seen.add(part_id)
        chosen.append(parts[part_id])
    total = sum(part.bytes for part in chosen)
    if total != record.bytes:
        raise InvalidRequest(
            f"the parts listed hold {total} bytes, but upload {record.id} was created with "
            f"bytes={record.bytes}",
            param="part_ids",
        )
    return chosen


def _completed_again(record: UploadRecord, part_ids: list[str]) -> None:
    if record.part_ids is None or list(record.part_ids) != part_ids:
        raise Conflict(
            f"Upload {record.id} is already completed, from other parts", param="part_ids"
        )


async def complete(
    container: Container,
    owner: str,
    upload_id: str,
    request: UploadCompleteRequest,
    payer: Meter | None = None,
) -> UploadObject:
    """Assemble the listed parts into a File; the same request again answers the same."""
    record = await _get(container, owner, upload_id)
    if record.status == COMPLETED:
        _completed_again(record, request.part_ids)
        return await to_object(container, record)
    if _status(record) != PENDING:
        raise _conflict(record, "it cannot be completed")
    # Parts are only ever added to a pending upload, so what is checked here still holds
    # once the claim below succeeds.
    chosen = _chosen_parts(record, await container.uploads.parts(record.id), request.part_ids)
    claimed, current = await container.uploads.claim(owner, record.id, request.part_ids)
    if current is None:
        raise NotFound(f"No such Upload object: {upload_id}", param="upload_id")
    if not claimed:
        if current.status == COMPLETED:  # a racing complete won with the same request
            _completed_again(current, request.part_ids)
            return await to_object(container, current)
        raise _conflict(current, "it cannot be completed")
    try:
        file_id = await _assemble_file(container, current, chosen, request.md5, payer)
        finished = await container.uploads.finish(current, file_id)
    except BaseException:
        await container.uploads.release(current)
        raise
    if finished is None:  # so slow that another complete took over: it answers
        raise _conflict(current, "its completion was taken over after its lease ran out")
    await asyncio.to_thread(disk.remove_folder, _parts_folder(container, current.id))
    return await to_object(container, finished)


async def _assemble_file(
    container: Container,
    record: UploadRecord,
    parts: list[PartRecord],
    md5: str | None,
    payer: Meter | None,
) -> str:
    folder = _parts_folder(container, record.id)
    assembled, digest = await asyncio.to_thread(
        disk.assemble,
        container.settings.data_dir / "tmp" / "uploads",
        [folder / part.id for part in parts],
        md5=md5 is not None,
    )
    try:
        if assembled.size != record.bytes:
            raise WorkhorseError(
                f"the stored parts of upload {record.id} hold {assembled.size} bytes, "
                f"not the {record.bytes} recorded"
            )
        if md5 is not None and digest != md5.lower():
            raise InvalidRequest(
                f"the parts' MD5 is {digest}, not the md5 given ({md5})", param="md5"
            )
        created = await files.keep(
            container, record.owner, record.purpose, record.filename, assembled, payer
        )
    finally:
        assembled.path.unlink(missing_ok=True)  # already gone once the blob store adopted it
    return created.id


async def cancel(container: Container, owner: str, upload_id: str) -> UploadObject:
    """Cancel a pending upload and delete its parts; cancelling again answers the same."""
    cancelled, record = await container.uploads.cancel(owner, upload_id)
    if record is None:
        raise NotFound(f"No such Upload object: {upload_id}", param="upload_id")
    if not cancelled and record.status != CANCELLED:
        raise _conflict(record, "it cannot be cancelled")
    await asyncio.to_thread(disk.remove_folder, _parts_folder(container, record.id))
    return await to_object(container, record)


async def purge(container: Container) -> None:
    """Expire pending uploads past their time, forget old ones, and delete every parts
    folder whose upload is no longer pending or being completed."""
    await container.uploads.purge(RETENTION)
    root = container.settings.data_dir / "uploads"
    names = await asyncio.to_thread(disk.upload_folders, root)
    for upload_id in await container.uploads.leftovers(names):
        await asyncio.to_thread(disk.remove_folder, root / upload_id)


async def purge_forever(container: Container) -> None:
    """Run ``purge`` every ``min(600, uploads_ttl_s)`` seconds until cancelled."""
    interval = min(PURGE_INTERVAL_S, container.settings.uploads_ttl_s)
    while True:
        try:
            await purge(container)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("could not purge expired uploads", exc_info=exc)
        await asyncio.sleep(interval)
