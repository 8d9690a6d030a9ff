"""``GET /v1/models``, ``GET /v1/models/{id}`` and ``DELETE /v1/models/{id}``.

Any key may list and read models (SDKs ask before they call); a key limited to some
models sees only those, and a project sees only its own fine-tuned models.
"""

from __future__ import annotations

from fastapi import APIRouter

from workhorse.api.models.schemas import Model, ModelDeleted, ModelList
from workhorse.errors import Forbidden, ModelNotFound
from workhorse.governance.keys import Scope
from workhorse.http.auth import ApiKeyDep, RequireScope, check_model_access
from workhorse.http.deps import ContainerDep

router = APIRouter(tags=["models"])


@router.get("/models", response_model=ModelList)
async def list_models(api_key: ApiKeyDep, container: ContainerDep) -> ModelList:
    """Every chat and embedding model this server answers with, then fine-tuned models."""
    served = [
        Model(id=c.id, created=c.created, owned_by=c.owned_by) for c in container.models.cards()
    ]
    tuned = [
        Model(id=m.id, created=int(m.created_at.timestamp()), owned_by=m.owner)
        for m in await container.fine_tuned.all()
        if m.owner == api_key.project_id
    ]
    return ModelList(data=[m for m in served + tuned if api_key.allows_model(m.id)])


@router.get("/models/{model_id:path}", response_model=Model)
async def retrieve_model(model_id: str, api_key: ApiKeyDep, container: ContainerDep) -> Model:
    """One model by id (ids may contain slashes)."""
    await check_model_access(container, api_key, model_id)
    for card in container.models.cards():
        if card.id == model_id:
            return Model(id=card.id, created=card.created, owned_by=card.owned_by)
    tuned = await container.fine_tuned.get(model_id)
    if tuned is not None:
        return Model(id=tuned.id, created=int(tuned.created_at.timestamp()), owned_by=tuned.owner)
    raise ModelNotFound(f"The model {model_id!r} does not exist", param="model")


@router.delete(
    "/models/{model_id:path}",
    response_model=ModelDeleted,
    dependencies=[RequireScope(Scope.FINE_TUNING)],
)
async def delete_model(model_id: str, api_key: ApiKeyDep, container: ContainerDep) -> ModelDeleted:
    """Delete a fine-tuned model of the caller's project; it stops answering at once."""
    if any(card.id == model_id for card in container.models.cards()):
        raise Forbidden(
            f"the model {model_id!r} is configured, not fine-tuned; only fine-tuned models "
            "can be deleted",
            param="model",
            code="model_not_deletable",
        )
    deleted = await container.fine_tuned.delete(api_key.project_id, model_id)
    if deleted is None:
        raise ModelNotFound(f"The model {model_id!r} does not exist", param="model")
    await container.models.forget(model_id)
    return ModelDeleted(id=model_id)
