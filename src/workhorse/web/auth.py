"""Signing in with an API key, and out."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from workhorse.errors import CrossSiteRequest
from workhorse.http.deps import ContainerDep
from workhorse.web.forms import redirect
from workhorse.web.pages import SIGN_IN, ConsoleRoute, PagesDep
from workhorse.web.session import (
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    VisitorDep,
    clear_session_cookie,
    is_https,
    read_form,
    set_session_cookie,
    visitor_form,
)

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
HOME = "/chat"


def _local(next_path: str | None) -> str:
    """``next_path`` if it is a path of this console, else the home page (no open
    redirect to another site)."""
    if not next_path or not next_path.startswith("/") or next_path.startswith("//"):
        return HOME
    parts = urlsplit(next_path)
    if parts.scheme or parts.netloc or "\\" in next_path:
        return HOME
    return next_path


def _sign_in_page(
    request: Request, pages: PagesDep, next_path: str, *, error: str | None, status: int
) -> HTMLResponse:
    token = request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(24)
    response = pages.render(
        request,
        "sign_in.html",
        {"csrf_token": token, "next": next_path, "error": error, "visitor": None},
        status=status,
    )
    response.set_cookie(
        SIGN_IN_COOKIE,
        token,
        max_age=3600,
        path=SIGN_IN,
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )
    return response


@router.get("/")
async def home(request: Request) -> RedirectResponse:
    """The console's front door: chat, or sign in first."""
    return redirect(HOME if request.cookies.get(SESSION_COOKIE) else SIGN_IN)


@router.get(SIGN_IN)
async def sign_in_form(
    request: Request, pages: PagesDep, next: Annotated[str | None, Query()] = None
) -> HTMLResponse:
    """The sign-in form."""
    return _sign_in_page(request, pages, _local(next), error=None, status=200)


@router.post(SIGN_IN)
async def sign_in(request: Request, pages: PagesDep, container: ContainerDep) -> Response:
    """Exchange the API key for a session; the key is not kept in the browser."""
    expected = request.cookies.get(SIGN_IN_COOKIE)
    if not expected:
        raise CrossSiteRequest(
            "The sign-in form's security cookie is missing; load the sign-in page and try again.",
            param="csrf_token",
        )
    form = await read_form(request, expected)
    next_path = _local(str(form.get("next") or ""))
    secret = str(form.get("api_key") or "").strip()
    record = await container.keys.authenticate(secret) if secret else None
    if record is None:
        return _sign_in_page(
            request,
            pages,
            next_path,
            error="That API key is not valid: it is unknown, revoked, rotated out or expired.",
            status=401,
        )
    session, token = await container.console_sessions.open(record)
    response = redirect(next_path)
    max_age = max(1, int((session.expires_at - datetime.now(UTC)).total_seconds()))
    set_session_cookie(response, request, token, max_age)
    response.delete_cookie(SIGN_IN_COOKIE, path=SIGN_IN)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, visitor: VisitorDep, container: ContainerDep) -> Response:
    """End the session here and on the server."""
    await visitor_form(request, visitor)
    await container.console_sessions.close(visitor.token)
    response = redirect(SIGN_IN)
    clear_session_cookie(response, request)
    return response
