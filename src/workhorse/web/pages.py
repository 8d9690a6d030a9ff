"""Rendering console pages, and the rules every console route follows.

``Pages`` renders the Jinja2 templates with autoescaping on; model output goes through
``markdown``, which renders CommonMark with raw HTML off (a ``<script>`` the model writes
is shown as text) and unsafe link schemes refused. ``ConsoleRoute`` is the route class of
every console page: it refuses an unsafe request from another origin, renders what a
page raises as an error page (a visitor who is not signed in is sent to sign in), and
puts the security headers on every answer: a Content-Security-Policy that allows no
inline script, no framing, and nothing loaded from elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined
from markdown_it import MarkdownIt
from markupsafe import Markup
from starlette.responses import Response

from workhorse.errors import CrossSiteRequest, WorkhorseError
from workhorse.http.errors import validation_error

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    )
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SIGN_IN = "/sign-in"


class SignInRequired(Exception):
    """The visitor has no live session: send them to sign in, then back to ``next``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def sign_in_url(next_path: str) -> str:
    """The sign-in page, returning to ``next_path`` afterwards."""
    if next_path in ("", "/"):
        return SIGN_IN
    return f"{SIGN_IN}?next={quote(next_path, safe='/')}"


def _when(value: int | float | datetime | None) -> str:
    """A timestamp as the console shows it (UTC, to the minute)."""
    if value is None:
        return ""
    moment = value if isinstance(value, datetime) else datetime.fromtimestamp(float(value), tz=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


class Pages:
    """The console's templates."""

    def __init__(self) -> None:
        self._env = Environment(
            loader=PackageLoader("workhorse.web", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        # CommonMark with raw HTML off: tags in model output are text. markdown-it's
        # link check refuses javascript:, vbscript:, file: and data: (but images) links.
        markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
        # Safe to mark: markdown-it escaped every tag and attribute of its input.
        self._env.filters["markdown"] = lambda text: Markup(markdown.render(str(text)))  # noqa: S704
        self._env.filters["when"] = _when

    def render(
        self,
        request: Request,
        name: str,
        context: dict[str, Any],
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        """The page ``name`` rendered with ``context`` (and the request as ``request``)."""
        html = self._env.get_template(name).render(request=request, **context)
        return HTMLResponse(html, status_code=status, headers=headers)

    def error(self, request: Request, exc: WorkhorseError) -> HTMLResponse:
        """The page for an error a console route raised, with its status and headers."""
        return self.render(
            request,
            "error.html",
            {"status": exc.status, "message": exc.message, "param": exc.param},
            status=exc.status,
            headers=exc.headers,
        )


def get_pages(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages


PagesDep = Annotated[Pages, Depends(get_pages)]


def check_origin(request: Request) -> None:
    """403 unless an unsafe request comes from this server's own pages.

    Browsers send ``Origin`` on every form POST; where one does not (old browsers),
    ``Sec-Fetch-Site`` must not say another site. The session's CSRF token is checked
    as well, by the form (``session.read_form``).
    """
    own = f"{request.url.scheme}://{request.url.netloc}"
    origin = request.headers.get("origin")
    if origin is not None:
        if origin != own:
            raise CrossSiteRequest(
                f"This form was sent from {origin}, not from this console ({own}); it was refused."
            )
        return
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise CrossSiteRequest(f"This form was sent from a {site} page; it was refused.")


def _error(request: Request, exc: WorkhorseError) -> Response:
    """An error page, or the JSON error envelope for the page script's JSON requests."""
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(exc.to_dict(), status_code=exc.status, headers=exc.headers)
    return get_pages(request).error(request, exc)


class ConsoleRoute(APIRoute):
    """A console page: origin check, errors as pages, security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                if request.method not in SAFE_METHODS:
                    check_origin(request)
                response = await handler(request)
            except SignInRequired as exc:
                response = RedirectResponse(sign_in_url(exc.next_path), status_code=303)
            except WorkhorseError as exc:
                response = _error(request, exc)
            except RequestValidationError as exc:
                response = _error(request, validation_error(exc.errors(), skip=1))
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return guarded
