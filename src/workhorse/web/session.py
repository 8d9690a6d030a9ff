"""Who is looking at the console: the session cookie, and the CSRF token of its forms.

The session cookie is HttpOnly (no script reads it), SameSite=Lax (another site's form
POST does not carry it) and Secure when the console is served over HTTPS. Every form of
a signed-in page carries the session's CSRF token; the sign-in form, sent before there
is a session, carries a token that must match a cookie of its own (double submit).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from workhorse.errors import CrossSiteRequest, InvalidRequest, PayloadTooLarge
from workhorse.governance.keys import ApiKeyRecord, Scope
from workhorse.governance.meter import Meter
from workhorse.http.auth import admit, check_scope
from workhorse.http.deps import get_container
from workhorse.store.console_sessions import SignedIn
from workhorse.web.pages import SignInRequired

SESSION_COOKIE = "workhorse_session"
SIGN_IN_COOKIE = "workhorse_sign_in"
MAX_FORM_FIELDS = 64
MAX_FORM_BYTES = 256 * 1024


@dataclass(frozen=True)
class Visitor:
    """A signed-in visitor: their session, the key it acts as, and the request's meter."""

    session: SignedIn
    token: str
    meter: Meter

    @property
    def key(self) -> ApiKeyRecord:
        return self.session.key

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token

    def may(self, scope: Scope, method: str = "POST") -> bool:
        """Whether the key allows an operation needing ``scope``."""
        return self.key.allows(scope, method)

    def require(self, scope: Scope, method: str) -> None:
        """403 naming the scope when the key lacks it."""
        check_scope(self.key, scope, method)


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def _next_path(request: Request) -> str:
    if request.method != "GET":
        return request.headers.get("referer", "/").removeprefix(
            f"{request.url.scheme}://{request.url.netloc}"
        )
    query = f"?{request.url.query}" if request.url.query else ""
    return request.url.path + query


async def signed_in(request: Request) -> Visitor:
    """The visitor's live session, admitted under its key's limits; otherwise a redirect
    to sign in (an expired, signed-out or revoked-key session is no session)."""
    token = request.cookies.get(SESSION_COOKIE)
    container = get_container(request)
    found = await container.console_sessions.find(token) if token else None
    if found is None or token is None:
        raise SignInRequired(_next_path(request))
    meter = await admit(request, found.key)
    return Visitor(found, token, meter)


VisitorDep = Annotated[Visitor, Depends(signed_in)]


async def read_form(request: Request, expected_token: str) -> FormData:
    """The form's fields, once its ``csrf_token`` is the one expected (403 otherwise)."""
    # Browsers always send a form's length; a body without one is not a console form.
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        raise InvalidRequest("A console form must be sent with its Content-Length.")
    if int(length) > MAX_FORM_BYTES:
        raise PayloadTooLarge(f"A console form may send at most {MAX_FORM_BYTES} bytes.")
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    check_csrf(form.get("csrf_token"), expected_token)
    return form


def check_csrf(sent: object, expected_token: str) -> None:
    """403 unless ``sent`` is the expected CSRF token."""
    if not isinstance(sent, str) or not secrets.compare_digest(
        sent.encode(), expected_token.encode()
    ):
        raise CrossSiteRequest(
            "This form's security token is missing or out of date (the page may be from "
            "an earlier session); reload the page and send it again.",
            param="csrf_token",
        )


async def visitor_form(request: Request, visitor: Visitor) -> FormData:
    """A signed-in visitor's form, its CSRF token checked against the session's."""
    return await read_form(request, visitor.csrf_token)


def set_session_cookie(response: Response, request: Request, token: str, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(request)
    )
