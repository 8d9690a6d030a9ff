"""``GET /v1/models`` and ``GET /v1/models/{id}``."""

from __future__ import annotations

from fastapi import APIRouter

from workhorse.api.models.schemas import Model, ModelList
from workhorse.errors import ModelNotFound
from workhorse.http.deps import ModelsDep

router = APIRouter(tags=["models"])


@router.get("/models", response_model=ModelList)
async def list_models(models: ModelsDep) -> ModelList:
    """Every chat and embedding model this server answers with."""
    return ModelList(
        data=[Model(id=c.id, created=c.created, owned_by=c.owned_by) for c in models.cards()]
    )


@router.get("/models/{model_id:path}", response_model=Model)
async def retrieve_model(model_id: str, models: ModelsDep) -> Model:
    """One model by id (ids may contain slashes)."""
    for card in models.cards():
        if card.id == model_id:
            return Model(id=card.id, created=card.created, owned_by=card.owned_by)
    raise ModelNotFound(f"The model {model_id!r} does not exist", param="model")
