"""``POST /v1/embeddings``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from workhorse.api.embeddings import service
from workhorse.api.embeddings.schemas import EmbeddingList, EmbeddingRequest
from workhorse.http.bodies import ParsedBody, request_body
from workhorse.http.deps import ModelsDep

router = APIRouter(tags=["embeddings"])


@router.post(
    "/embeddings", response_model=EmbeddingList, openapi_extra=request_body(EmbeddingRequest)
)
async def create_embeddings(
    body: Annotated[EmbeddingRequest, ParsedBody(EmbeddingRequest)], models: ModelsDep
) -> EmbeddingList:
    """Embed one text or a list of texts."""
    return await service.embed(models, body)
