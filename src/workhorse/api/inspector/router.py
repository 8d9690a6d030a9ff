"""``/v1/admin/requests``: why did this request fail? Admin keys only.

Every answered request is recorded after its response (``obs.inspector``): its route,
status, timing, key, model, tokens, idempotency outcome, SDK retries, a client that left,
and for a failure the error exactly as the client got it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from workhorse.api.inspector.schemas import IdempotencyOutcome, RequestList, RequestObject
from workhorse.api.inspector.service import (
    RequestQuery,
    list_requests,
    parse_page,
    retrieve_request,
)
from workhorse.governance.keys import Scope
from workhorse.http.auth import RequireScope
from workhorse.http.deps import ContainerDep
from workhorse.store.request_log import Filters

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[RequireScope(Scope.ADMIN)])


def request_query(  # the listing's filters, each optional
    status: Annotated[int | None, Query(ge=100, le=599)] = None,
    status_class: Annotated[Literal["2xx", "3xx", "4xx", "5xx"] | None, Query()] = None,
    failed: Annotated[
        bool, Query(description="Only status 400 and above, or a client that went away")
    ] = False,
    route: Annotated[
        str | None, Query(max_length=256, description="A route template: /v1/files/{file_id}")
    ] = None,
    api_key_id: Annotated[str | None, Query(max_length=40)] = None,
    model: Annotated[str | None, Query(max_length=400)] = None,
    error_code: Annotated[str | None, Query(max_length=64)] = None,
    idempotency: Annotated[IdempotencyOutcome | None, Query()] = None,
    since: Annotated[
        int | None, Query(ge=0, le=2**40, description="Unix seconds, inclusive")
    ] = None,
    until: Annotated[
        int | None, Query(ge=0, le=2**40, description="Unix seconds, exclusive")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    page: Annotated[
        str | None,
        Query(pattern=r"^rq_[0-9]{1,18}$", description="next_page of the previous page"),
    ] = None,
) -> RequestQuery:
    filters = Filters(
        status=status,
        status_class=int(status_class[0]) if status_class else None,
        failed=failed,
        route=route,
        api_key_id=api_key_id,
        model=model,
        error_code=error_code,
        idempotency=idempotency,
        since_ms=since * 1000 if since is not None else None,
        until_ms=until * 1000 if until is not None else None,
    )
    return RequestQuery(filters, limit, parse_page(page))


QueryDep = Annotated[RequestQuery, Depends(request_query)]


@router.get("/requests", response_model=RequestList)
async def list_recent_requests(container: ContainerDep, query: QueryDep) -> RequestList:
    """Recent requests, newest first, filtered."""
    return await list_requests(container.inspector.requests, query)


@router.get("/requests/{request_id}", response_model=RequestObject)
async def retrieve_recent_request(request_id: str, container: ContainerDep) -> RequestObject:
    """One request, with the resources it created and anything captured of it."""
    return await retrieve_request(container.inspector.requests, request_id)
