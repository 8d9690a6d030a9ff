"""``/metrics`` on a port of its own (``WORKHORSE_METRICS_PORT``): the usual choice when a
cluster's Prometheus scrapes, and how a ``workhorse worker`` (which serves no API) shows
its own work. A second uvicorn server in the process's event loop answers nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from workhorse.obs.exposition import CONTENT_TYPE, Exposition


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves the signals to the process's main loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def metrics_app(exposition: Exposition) -> Starlette:
    """An app answering ``GET /metrics`` only."""

    async def metrics(_request: Request) -> Response:
        return Response(await exposition.render(), media_type=CONTENT_TYPE)

    return Starlette(routes=[Route("/metrics", metrics, methods=["GET"])])


class MetricsServer:
    """Serves ``/metrics`` on ``host:port`` while the process runs."""

    def __init__(self, exposition: Exposition, host: str, port: int) -> None:
        config = uvicorn.Config(
            metrics_app(exposition),
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        self._server = _QuietServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listen; raises when the port cannot be bound."""
        self._task = asyncio.create_task(self._server.serve(), name="metrics-server")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # the bind failed: say why
                raise OSError("the metrics server stopped before it started")
            await asyncio.sleep(0.01)

    async def aclose(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._task = None
