"""The console's routes and static files, as ``create_app`` mounts them."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from workhorse.web import admin, auth, chat, dashboard, jobs, knowledge, uploads

STATIC_PATH = "/static"


def console_router() -> APIRouter:
    """Every console page."""
    router = APIRouter(include_in_schema=False)
    router.include_router(auth.router)
    router.include_router(chat.router)
    router.include_router(knowledge.router)
    router.include_router(uploads.router)
    router.include_router(jobs.router)
    router.include_router(dashboard.router)
    router.include_router(admin.router)
    return router


class StaticAssets(StaticFiles):
    """The console's vendored scripts and styles, never sniffed as another type."""

    def __init__(self) -> None:
        super().__init__(packages=[("workhorse.web", "static")])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))  # type: ignore[call-overload]
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"cache-control", b"public, max-age=300"))
                message["headers"] = headers
            await send(message)

        await super().__call__(scope, receive, send_with_headers)  # type: ignore[arg-type]
