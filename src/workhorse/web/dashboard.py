"""The dashboard (admin keys): traffic, errors, latency and generation over the last hour
or day; the request inspector with its filters and one request's detail; usage per
project, key and model."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from workhorse.api.inspector.router import request_query
from workhorse.api.inspector.service import RequestQuery, list_requests, retrieve_request
from workhorse.container import Container
from workhorse.governance.keys import Scope
from workhorse.http.deps import ContainerDep
from workhorse.obs.dashboard import WINDOWS, dashboard
from workhorse.web.pages import ConsoleRoute, PagesDep
from workhorse.web.session import VisitorDep

router = APIRouter(prefix="/dashboard", route_class=ConsoleRoute, include_in_schema=False)
USAGE_GROUPS = ("project_id", "api_key_id", "model")
USAGE_ROWS = 100


async def _usage(container: Container, span: int) -> list[dict[str, object]]:
    """Tokens and model requests per project, key and model over the last ``span`` s."""
    end = int(time.time()) // 60 * 60 + 60
    start = end - span // 60 * 60
    rows: list[dict[str, object]] = []
    for api in ("completions", "embeddings"):
        found = await container.governor.usage.sums((api,), start, end, end - start, USAGE_GROUPS)
        for row in found:
            rows.append({"api": api, **row.group, **row.totals})
    rows.sort(key=lambda r: -int(str(r.get("input_tokens", 0))))
    return rows[:USAGE_ROWS]


@router.get("")
async def overview(
    request: Request,
    visitor: VisitorDep,
    container: ContainerDep,
    pages: PagesDep,
    window: Annotated[Literal["hour", "day"], Query()] = "hour",
) -> HTMLResponse:
    """The charts of the window, the error reasons, and usage."""
    visitor.require(Scope.ADMIN, "GET")
    shown = await dashboard(container.inspector.requests, container.history, window)
    context = {
        "visitor": visitor,
        "board": shown,
        "usage": await _usage(container, WINDOWS[window]),
    }
    return pages.render(request, "dashboard.html", context)


@router.get("/requests")
async def requests(
    request: Request,
    visitor: VisitorDep,
    container: ContainerDep,
    pages: PagesDep,
    query: Annotated[RequestQuery, Depends(request_query)],
) -> HTMLResponse:
    """Recent requests, newest first, filtered as ``GET /v1/admin/requests`` filters."""
    visitor.require(Scope.ADMIN, "GET")
    found = await list_requests(container.inspector.requests, query)
    params = {k: v for k, v in request.query_params.items() if k != "page"}
    context = {"visitor": visitor, "found": found, "params": params}
    return pages.render(request, "requests.html", context)


@router.get("/requests/{request_id}")
async def one_request(
    request_id: str,
    request: Request,
    visitor: VisitorDep,
    container: ContainerDep,
    pages: PagesDep,
) -> HTMLResponse:
    """One request: what it was, what it was told, what it created and cost."""
    visitor.require(Scope.ADMIN, "GET")
    found = await retrieve_request(container.inspector.requests, request_id)
    context = {"visitor": visitor, "record": found}
    return pages.render(request, "request.html", context)
