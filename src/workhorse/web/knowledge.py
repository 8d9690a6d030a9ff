"""Knowledge bases: vector stores, their files with each one's status and failure reason,
uploads, retries, and a search box that shows the ranked passages.

Files come as a plain multipart form (many at once, JavaScript or not; streamed to disk
as they arrive), or, with the page's script, in parts through the Uploads API
(``web/uploads.py``), which survives a dropped connection.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from workhorse.api.files import service as files_service
from workhorse.api.vector_stores import service as stores_service
from workhorse.api.vector_stores.schemas import (
    SearchRequest,
    VectorStoreCreateRequest,
    VectorStoreFileCreateRequest,
)
from workhorse.container import Container
from workhorse.errors import InvalidRequest
from workhorse.governance.keys import Scope
from workhorse.http.deps import ContainerDep
from workhorse.http.multipart import MultipartLimits, MultipartReader, ReceivedFile
from workhorse.web.forms import new_form_key, once
from workhorse.web.pages import ConsoleRoute, PagesDep
from workhorse.web.passages import passage_key
from workhorse.web.session import Visitor, VisitorDep, check_csrf, visitor_form

router = APIRouter(prefix="/knowledge", route_class=ConsoleRoute, include_in_schema=False)
STORES_SHOWN = 50
FILES_SHOWN = 200
PASSAGES_SHOWN = 10
FORM_UPLOAD_LIMITS = MultipartLimits(max_parts=64, max_files=32, max_field_bytes=4096)
PURPOSE = "assistants"


async def file_rows(
    container: Container, owner: str, store_id: str
) -> tuple[list[dict[str, object]], bool]:
    """The store's files, newest first, with names, statuses and failure reasons; and
    whether any is still being ingested."""
    records, _ = await container.vector_stores.list_files(
        owner, store_id, limit=FILES_SHOWN, after=None, order="desc"
    )
    rows: list[dict[str, object]] = []
    for record in records:
        stored = await container.files.get(owner, record.file_id)
        error = record.last_error or {}
        rows.append(
            {
                "file_id": record.file_id,
                "filename": stored.filename if stored is not None else record.file_id,
                "bytes": stored.bytes if stored is not None else 0,
                "status": record.status,
                "chunks": record.chunks,
                "reason": error.get("message"),
                "code": error.get("code"),
            }
        )
    return rows, any(r["status"] == "in_progress" for r in rows)


@router.get("")
async def stores(
    request: Request,
    visitor: VisitorDep,
    container: ContainerDep,
    pages: PagesDep,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """The project's knowledge bases and the form that makes one."""
    visitor.require(Scope.KNOWLEDGE, "GET")
    records, more = await container.vector_stores.page(
        visitor.key.project_id, limit=STORES_SHOWN, after=after, order="desc"
    )
    counts = await container.vector_stores.counts([r.id for r in records])
    listed = [
        {"id": r.id, "name": r.name or r.id, "created_at": r.created_at, "counts": counts[r.id][0]}
        for r in records
    ]
    context = {
        "visitor": visitor,
        "stores": listed,
        "next": records[-1].id if more and records else None,
        "form_key": new_form_key(),
    }
    return pages.render(request, "knowledge.html", context)


@router.post("")
async def create(request: Request, visitor: VisitorDep, container: ContainerDep) -> Response:
    """A new, empty knowledge base."""
    visitor.require(Scope.KNOWLEDGE, "POST")
    form = await visitor_form(request, visitor)

    async def action() -> str:
        name = form.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InvalidRequest("Give the knowledge base a name.", param="name")
        body = VectorStoreCreateRequest(name=name.strip()[:256])
        created = await stores_service.create(container, visitor.meter, body)
        return f"/knowledge/{created.id}"

    return await once(request, visitor, form, action)


@router.get("/{store_id}")
async def store(
    store_id: str,
    request: Request,
    visitor: VisitorDep,
    container: ContainerDep,
    pages: PagesDep,
    q: Annotated[str | None, Query(max_length=4096)] = None,
) -> HTMLResponse:
    """One knowledge base: its files, the upload form, and search results for ``q``."""
    visitor.require(Scope.KNOWLEDGE, "GET")
    record = await container.vector_stores.get(visitor.key.project_id, store_id)
    rows, ingesting = await file_rows(container, visitor.key.project_id, store_id)
    passages = None
    if q is not None and q.strip():
        found = await stores_service.search(
            container,
            visitor.meter,
            store_id,
            SearchRequest(query=q.strip(), max_num_results=PASSAGES_SHOWN),
        )
        passages = found.data
    context = {
        "visitor": visitor,
        "store": {"id": record.id, "name": record.name or record.id},
        "files": rows,
        "ingesting": ingesting,
        "query": q or "",
        "passages": passages,
        "form_key": new_form_key(),
    }
    return pages.render(request, "knowledge_store.html", context)


@router.get("/{store_id}/files")
async def files(
    store_id: str,
    request: Request,
    visitor: VisitorDep,
    container: ContainerDep,
    pages: PagesDep,
) -> HTMLResponse:
    """The files table alone: what the page's script polls while files are ingested."""
    visitor.require(Scope.KNOWLEDGE, "GET")
    await container.vector_stores.get(visitor.key.project_id, store_id)
    rows, ingesting = await file_rows(container, visitor.key.project_id, store_id)
    context = {
        "visitor": visitor,
        "store": {"id": store_id},
        "files": rows,
        "ingesting": ingesting,
        "form_key": new_form_key(),
    }
    return pages.render(request, "knowledge_files.html", context)


@router.get("/{store_id}/files/{file_id}")
async def file_passages(
    store_id: str,
    file_id: str,
    request: Request,
    visitor: VisitorDep,
    container: ContainerDep,
    pages: PagesDep,
    cited: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """A file of the knowledge base, passage by passage; ``cited`` marks the one an
    answer's citation points at."""
    visitor.require(Scope.KNOWLEDGE, "GET")
    owner = visitor.key.project_id
    record = await container.vector_stores.get(owner, store_id)
    state = await container.vector_stores.get_file(owner, store_id, file_id)
    stored = await container.files.get(owner, file_id)
    chunks = await container.index.file_chunks(store_id, file_id)
    passages = [
        {
            "index": c.chunk_index,
            "location": c.location,
            "text": c.text,
            "cited": cited is not None and passage_key(c.text) == cited,
        }
        for c in sorted(chunks, key=lambda c: c.chunk_index)
    ]
    context = {
        "visitor": visitor,
        "store": {"id": record.id, "name": record.name or record.id},
        "file": {
            "id": file_id,
            "filename": stored.filename if stored is not None else file_id,
            "status": state.status,
        },
        "passages": passages,
    }
    return pages.render(request, "knowledge_file.html", context)


async def _read_upload_form(request: Request, container: Container) -> MultipartReader:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise InvalidRequest("Files are sent as a multipart/form-data form.")
    reader = MultipartReader(
        content_type,
        limits=FORM_UPLOAD_LIMITS,
        upload_dir=container.settings.data_dir / "tmp" / "uploads",
        accept_files=True,
    )
    try:
        async for chunk in request.stream():
            reader.feed(chunk)
        reader.finish()
    except BaseException:
        reader.discard()
        raise
    return reader


async def add_to_store(
    container: Container, visitor: Visitor, store_id: str, upload: ReceivedFile
) -> str:
    """Keep an uploaded file and queue it for the store; its file id."""
    kept = await files_service.keep(
        container, visitor.key.project_id, PURPOSE, upload.filename, upload, visitor.meter
    )
    await queue_file(container, visitor, store_id, kept.id)
    return kept.id


async def queue_file(container: Container, visitor: Visitor, store_id: str, file_id: str) -> None:
    """Add the file to the store and queue its ingestion (again, if it had failed)."""
    body = VectorStoreFileCreateRequest(file_id=file_id)
    await stores_service.add_file(container, visitor.meter, store_id, body)


@router.post("/{store_id}/files")
async def upload(
    store_id: str, request: Request, visitor: VisitorDep, container: ContainerDep
) -> Response:
    """Files picked or dropped on the form: kept, and queued for ingestion."""
    visitor.require(Scope.FILES, "POST")
    visitor.require(Scope.KNOWLEDGE, "POST")
    await container.vector_stores.get(visitor.key.project_id, store_id)
    reader = await _read_upload_form(request, container)
    try:
        fields = [(n, v) for n, v in reader.fields if isinstance(v, str | ReceivedFile)]
        token = next((v for n, v in fields if n == "csrf_token"), None)
        check_csrf(token, visitor.csrf_token)
        received = [v for n, v in fields if n == "files" and isinstance(v, ReceivedFile)]
        chosen = [f for f in received if f.size > 0 or f.filename]

        async def action() -> str:
            if not chosen:
                raise InvalidRequest("Pick at least one file to upload.", param="files")
            for file in chosen:
                await add_to_store(container, visitor, store_id, file)
            return f"/knowledge/{store_id}"

        return await once(request, visitor, fields, action)
    finally:
        reader.discard()


@router.post("/{store_id}/files/{file_id}/retry")
async def retry(
    store_id: str,
    file_id: str,
    request: Request,
    visitor: VisitorDep,
    container: ContainerDep,
) -> Response:
    """Ingest a failed file again."""
    visitor.require(Scope.KNOWLEDGE, "POST")
    form = await visitor_form(request, visitor)

    async def action() -> str:
        await queue_file(container, visitor, store_id, file_id)
        return f"/knowledge/{store_id}"

    return await once(request, visitor, form, action)
