"""``POST /v1/embeddings``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from workhorse.api.embeddings import service
from workhorse.api.embeddings.schemas import EmbeddingList, EmbeddingRequest
from workhorse.container import Container
from workhorse.errors import UnsupportedParameter
from workhorse.governance.keys import Scope
from workhorse.governance.meter import Meter
from workhorse.http.auth import MeterDep, RequireScope
from workhorse.http.bodies import ParsedBody, request_body
from workhorse.http.deps import ModelsDep
from workhorse.http.operations import Operation

router = APIRouter(tags=["embeddings"], dependencies=[RequireScope(Scope.EMBEDDINGS)])


async def _create_floats(
    container: Container, caller: Meter, body: EmbeddingRequest
) -> EmbeddingList:
    if body.encoding_format != "float":
        raise UnsupportedParameter(
            "SOAP carries vectors as numbers: use encoding_format float",
            param="encoding_format",
        )
    return await service.embed(container.models, caller, body)


CREATE_EMBEDDINGS = Operation(
    name="CreateEmbeddings",
    path="/v1/embeddings",
    request=EmbeddingRequest,
    response=EmbeddingList,
    run=_create_floats,
    scope=Scope.EMBEDDINGS,
)


@router.post(
    "/embeddings", response_model=EmbeddingList, openapi_extra=request_body(EmbeddingRequest)
)
async def create_embeddings(
    body: Annotated[EmbeddingRequest, ParsedBody(EmbeddingRequest)],
    models: ModelsDep,
    meter: MeterDep,
) -> EmbeddingList:
    """Embed one text or a list of texts."""
    return await service.embed(models, meter, body)
