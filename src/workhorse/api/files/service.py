"""Files: adopt the uploaded bytes into the blob store, record them once per content."""

from __future__ import annotations

import asyncio
from pathlib import Path

from workhorse.api.files.schemas import (
    FileCreateRequest,
    FileList,
    FileListQuery,
    FileObject,
)
from workhorse.container import Container
from workhorse.errors import NotFound
from workhorse.governance.meter import Meter
from workhorse.http.multipart import ReceivedFile, write_upload
from workhorse.store.files import FileRecord
from workhorse.store.usage import Spend


def to_object(record: FileRecord) -> FileObject:
    """The API shape of a record."""
    return FileObject(
        id=record.id,
        bytes=record.bytes,
        created_at=int(record.created_at.timestamp()),
        filename=record.filename,
        purpose=record.purpose,
    )


def safe_filename(filename: str | None) -> str:
    """The client's filename as a name only (never a path), at most 512 characters."""
    return (Path(filename or "upload").name or "upload")[:512]


async def keep(
    container: Container,
    owner: str,
    purpose: str,
    filename: str | None,
    upload: ReceivedFile,
    payer: Meter | None = None,
) -> FileObject:
    """Adopt a received file (moved, not copied) into the blob store and record it; the
    owner's existing file with the same content and purpose is returned instead. A new
    file's bytes join ``payer``'s usage."""
    await asyncio.to_thread(container.blobs.adopt, upload.path, upload.sha256)
    record, created = await container.files.create(
        owner, purpose, safe_filename(filename), upload.size, upload.sha256
    )
    if created and payer is not None:
        await payer.record(
            Spend(payer.project_id, payer.api_key_id, "", "files", stored_bytes=record.bytes)
        )
    return to_object(record)


async def create(container: Container, meter: Meter, request: FileCreateRequest) -> FileObject:
    """Store an uploaded file; the same content and purpose again returns the same file."""
    owner = meter.project_id
    if request.file is not None:
        name = request.file.filename
        return await keep(container, owner, request.purpose, name, request.file, meter)
    assert request.content is not None  # the model requires one of the two
    return await create_inline(
        container, meter, request.filename or "upload", request.content, request.purpose
    )


async def create_inline(
    container: Container, meter: Meter, filename: str, content: bytes, purpose: str
) -> FileObject:
    """Store a file whose bytes came inline (base64 in JSON, a form, XML or SOAP)."""
    upload = await asyncio.to_thread(
        write_upload, container.settings.data_dir / "tmp" / "uploads", content
    )
    try:
        return await keep(container, meter.project_id, purpose, filename, upload, meter)
    finally:
        upload.path.unlink(missing_ok=True)


async def get(container: Container, owner: str, file_id: str) -> FileRecord:
    """The owner's file, or 404."""
    record = await container.files.get(owner, file_id)
    if record is None:
        raise NotFound(f"No such File object: {file_id}", param="file_id")
    return record


async def list_files(container: Container, owner: str, query: FileListQuery) -> FileList:
    """A page of the owner's files."""
    records, has_more = await container.files.list(
        owner, purpose=query.purpose, limit=query.limit, after=query.after, order=query.order
    )
    data = [to_object(r) for r in records]
    return FileList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=has_more,
    )


async def delete(container: Container, owner: str, file_id: str) -> None:
    """Delete the owner's file, and its bytes when no other file shares them."""
    record, orphaned = await container.files.delete(owner, file_id)
    if record is None:
        raise NotFound(f"No such File object: {file_id}", param="file_id")
    if orphaned:
        await asyncio.to_thread(container.blobs.delete, record.sha256)
