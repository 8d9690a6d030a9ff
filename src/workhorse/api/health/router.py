"""``GET /healthz`` (the process answers) and ``GET /readyz`` (it can serve)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from workhorse.errors import ServiceUnavailable
from workhorse.http.deps import ContainerDep

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
async def metrics(container: ContainerDep) -> Response:
    """Prometheus metrics: requests, durations, client retries, idempotent replays."""
    return Response(container.metrics.render(), media_type="text/plain; version=0.0.4")
