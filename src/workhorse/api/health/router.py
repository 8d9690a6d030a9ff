"""``GET /healthz`` (the process answers) and ``GET /readyz`` (it can serve)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from workhorse.errors import NotFound, ServiceUnavailable
from workhorse.governance.keys import Scope
from workhorse.http.auth import check_scope, require_api_key
from workhorse.http.deps import ContainerDep
from workhorse.obs.exposition import CONTENT_TYPE

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive: answers as long as the event loop runs."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(container: ContainerDep) -> JSONResponse:
    """Ready: the database answers and every local model is loaded."""
    checks: dict[str, str] = {}
    try:
        await container.db.ping()
        checks["database"] = "ok"
    except ServiceUnavailable as exc:
        checks["database"] = exc.message
    models = container.models
    if models.ready:
        checks["models"] = "ok"
    else:
        checks["models"] = f"failed: {models.load_error}" if models.load_error else "loading"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request, container: ContainerDep) -> Response:
    """Prometheus metrics of this process (``docs/observability.md`` lists them)."""
    settings = container.settings
    if settings.metrics_port is not None:
        raise NotFound(f"metrics are served on port {settings.metrics_port}")
    if settings.metrics_require_admin:
        check_scope(await require_api_key(request), Scope.ADMIN, "GET")
    return Response(await container.exposition.render(), media_type=CONTENT_TYPE)
