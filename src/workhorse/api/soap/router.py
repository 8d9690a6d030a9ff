"""``POST /soap`` (SOAP 1.1 and 1.2) and its WSDL at ``GET /soap?wsdl``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from workhorse.errors import NotFound, UnsupportedMediaType, WorkhorseError
from workhorse.http.auth import ApiKeyDep, check_body_model, check_scope
from workhorse.http.bodies import read_body
from workhorse.http.deps import ContainerDep
from workhorse.http.errors import validation_error
from workhorse.http.idempotency import claim_idempotency_key
from workhorse.http.operations import Operation
from workhorse.http.sealing import seal_replay
from workhorse.http.soap import (
    fault_response,
    is_soap_media,
    parse_call,
    result_response,
    version_of,
)
from workhorse.http.wsdl import build_wsdl
from workhorse.http.xml import to_value


def soap_router(operations: list[Operation]) -> APIRouter:
    """The SOAP endpoint serving ``operations``."""
    router = APIRouter(tags=["soap"])
    by_name = {op.name: op for op in operations}

    @router.get("/soap", response_class=Response)
    async def wsdl(request: Request) -> Response:
        """The WSDL (any query, conventionally ``?wsdl``)."""
        location = str(request.url.replace(query=""))
        return Response(build_wsdl(operations, location), media_type="text/xml; charset=utf-8")

    @router.post("/soap", response_class=Response)
    async def call(request: Request, api_key: ApiKeyDep, container: ContainerDep) -> Response:
        """Run one operation from a SOAP envelope; errors are SOAP Faults."""
        content_type = request.headers.get("content-type")
        if not is_soap_media(content_type):
            raise UnsupportedMediaType(
                f"Content-Type {content_type or '(none)'!r} is not SOAP; send text/xml "
                "(SOAP 1.1) or application/soap+xml (SOAP 1.2)"
            )
        version = version_of(content_type)
        try:
            soap_call = parse_call(
                await read_body(request, container.settings.max_body_bytes, container.settings)
            )
            version = soap_call.version
            operation = by_name.get(soap_call.operation)
            if operation is None:
                raise NotFound(
                    f"no SOAP operation {soap_call.operation!r}; see GET /soap?wsdl",
                    code="unknown_operation",
                )
            check_scope(api_key, operation.scope, "POST")
            if operation.seals_replay:
                seal_replay(request)
            fields = to_value(soap_call.body)
            try:
                body = operation.request.model_validate(fields if isinstance(fields, dict) else {})
            except ValidationError as exc:
                raise validation_error(exc.errors()) from exc
            await check_body_model(request, container, api_key, body)
            await claim_idempotency_key(
                request, api_key, {"operation": operation.name, **body.model_dump(mode="json")}
            )
            result = await operation.run(container, request.state.meter, body)
        except WorkhorseError as exc:
            return fault_response(version, exc)
        return result_response(
            version, operation.name, result.model_dump(mode="json", by_alias=True)
        )

    return router
