"""Admin (admin keys only): projects and API keys. A new or rotated key's secret is shown
once, on the page that answers the form; a resubmission of that form from the same
session shows the same page again, and nothing else ever does."""

from __future__ import annotations

import time
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from workhorse.api.admin import service as admin_service
from workhorse.api.admin.schemas import (
    ApiKeyCreateRequest,
    ApiKeyRotateRequest,
    ProjectCreateRequest,
)
from workhorse.errors import InvalidRequest
from workhorse.governance.keys import Scope
from workhorse.http.deps import ContainerDep
from workhorse.http.errors import validation_error
from workhorse.web.forms import new_form_key, once
from workhorse.web.pages import ConsoleRoute, PagesDep
from workhorse.web.session import Visitor, VisitorDep, visitor_form

router = APIRouter(prefix="/admin", route_class=ConsoleRoute, include_in_schema=False)
SCOPES = [s.value for s in Scope]
Body = TypeVar("Body", bound=BaseModel)
DAY_S = 86400


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _number(form: FormData, name: str) -> int | None:
    given = _text(form, name)
    if not given:
        return None
    if not given.isdigit():
        raise InvalidRequest(f"{name} must be a whole number.", param=name)
    return int(given)


def limits_of_form(form: FormData) -> dict[str, Any] | None:
    """The limits the form's fields set (rpm, tpm, max_concurrent, a budget), or None."""
    limits: dict[str, Any] = {}
    for name in ("rpm", "tpm", "max_concurrent"):
        value = _number(form, name)
        if value is not None:
            limits[name] = value
    tokens = _number(form, "budget_tokens")
    if tokens is not None:
        limits["budget"] = {
            "tokens": tokens,
            "period": _text(form, "budget_period") or "month",
            "mode": _text(form, "budget_mode") or "hard",
        }
    return limits or None


def _validated(model: type[Body], fields: dict[str, Any]) -> Body:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise validation_error(exc.errors()) from exc


def _key_fields(form: FormData) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "scopes": [s for s in form.getlist("scopes") if isinstance(s, str)] or None
    }
    models = [m.strip() for m in _text(form, "models").replace(",", "\n").splitlines()]
    fields["models"] = [m for m in models if m] or None
    days = _number(form, "expires_in_days")
    fields["expires_at"] = int(time.time()) + days * DAY_S if days else None
    fields["limits"] = limits_of_form(form)
    return fields


def _require_admin(visitor: Visitor, method: str) -> None:
    visitor.require(Scope.ADMIN, method)


@router.get("")
async def overview(
    request: Request,
    visitor: VisitorDep,
    container: ContainerDep,
    pages: PagesDep,
    project: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    """Projects, keys, and the forms that make them."""
    _require_admin(visitor, "GET")
    projects = await container.projects.all(include_archived=True)
    keys = [admin_service.key_object(k) for k in await container.keys.all(project)]
    context = {
        "visitor": visitor,
        "projects": [admin_service.project_object(p) for p in projects],
        "keys": keys,
        "scopes": SCOPES,
        "chosen_project": project,
        "form_key": new_form_key(),
    }
    return pages.render(request, "admin.html", context)


@router.post("/projects")
async def create_project(
    request: Request, visitor: VisitorDep, container: ContainerDep
) -> Response:
    """A new project, with limits if given."""
    _require_admin(visitor, "POST")
    form = await visitor_form(request, visitor)

    async def action() -> str:
        body = _validated(
            ProjectCreateRequest, {"name": _text(form, "name"), "limits": limits_of_form(form)}
        )
        created = await admin_service.create_project(container, body)
        return f"/admin?project={created.id}"

    return await once(request, visitor, form, action)


@router.post("/keys")
async def create_key(
    request: Request, visitor: VisitorDep, container: ContainerDep, pages: PagesDep
) -> Response:
    """A new key; the page that answers shows its secret, once."""
    _require_admin(visitor, "POST")
    form = await visitor_form(request, visitor)

    async def action() -> HTMLResponse:
        fields = {"name": _text(form, "name"), **_key_fields(form)}
        project = _text(form, "project_id")
        if project:
            fields["project_id"] = project
        created = await admin_service.create_key(container, _validated(ApiKeyCreateRequest, fields))
        context = {"visitor": visitor, "key": created, "secret": created.key, "rotated": False}
        return pages.render(request, "key_secret.html", context)

    return await once(request, visitor, form, action)


@router.post("/keys/{key_id}/rotate")
async def rotate_key(
    key_id: str,
    request: Request,
    visitor: VisitorDep,
    container: ContainerDep,
    pages: PagesDep,
) -> Response:
    """A new secret for the key, shown once; the old one works for the grace period."""
    _require_admin(visitor, "POST")
    form = await visitor_form(request, visitor)

    async def action() -> HTMLResponse:
        grace = _number(form, "grace_period_seconds") or 0
        body = _validated(ApiKeyRotateRequest, {"grace_period_seconds": grace})
        record, secret = await container.keys.rotate(key_id, body.grace_period_seconds)
        key = admin_service.created_object(record, secret)
        context = {"visitor": visitor, "key": key, "secret": secret, "rotated": True}
        return pages.render(request, "key_secret.html", context)

    return await once(request, visitor, form, action)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(
    key_id: str, request: Request, visitor: VisitorDep, container: ContainerDep
) -> Response:
    """Revoke the key: it, and every console session opened with it, stop at once."""
    _require_admin(visitor, "POST")
    form = await visitor_form(request, visitor)

    async def action() -> str:
        await container.keys.revoke_id(key_id)
        return "/admin"

    return await once(request, visitor, form, action)
