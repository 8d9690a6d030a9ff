"""``/v1/feedback``: rate an answer (a response, a stored chat completion, a conversation
item), list and read ratings, delete one, export them all as JSON lines."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from starlette.convertors import Convertor, register_url_convertor

from workhorse.api.feedback import service
from workhorse.api.feedback.schemas import (
    FeedbackCreateRequest,
    FeedbackDatasetRequest,
    FeedbackDeleted,
    FeedbackList,
    FeedbackListQuery,
    FeedbackObject,
    FeedbackQuery,
)
from workhorse.api.files.schemas import FileObject
from workhorse.container import Container
from workhorse.governance.keys import Scope
from workhorse.governance.meter import Meter
from workhorse.http.auth import ApiKeyDep, MeterDep, RequireScope
from workhorse.http.bodies import ParsedBody, request_body
from workhorse.http.deps import ContainerDep
from workhorse.http.operations import Operation

router = APIRouter(tags=["feedback"], dependencies=[RequireScope(Scope.CHAT)])


class FeedbackIdConvertor(Convertor[str]):
    """A feedback id (``fb_`` and 32 hex digits): ``/v1/feedback/export`` and
    ``/v1/feedback/datasets`` are never taken for one, so each path answers exactly the
    methods the document gives it (a 405 with the right ``Allow`` for the others)."""

    regex = "fb_[0-9a-f]{32}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


# Starlette reads path convertors from its registry when a route is declared (below).
register_url_convertor("feedback_id", FeedbackIdConvertor())


async def _create(
    container: Container, caller: Meter, body: FeedbackCreateRequest
) -> FeedbackObject:
    return await service.create(container, caller.project_id, caller.api_key_id, body)


CREATE_FEEDBACK = Operation(
    name="CreateFeedback",
    path="/v1/feedback",
    request=FeedbackCreateRequest,
    response=FeedbackObject,
    run=_create,
    scope=Scope.CHAT,
)

_EXPORT: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        "description": "One JSON object a line: the rating and the exchange it rates.",
    }
}


@router.post(
    "/feedback", response_model=FeedbackObject, openapi_extra=request_body(FeedbackCreateRequest)
)
async def create_feedback(
    body: Annotated[FeedbackCreateRequest, ParsedBody(FeedbackCreateRequest)],
    api_key: ApiKeyDep,
    container: ContainerDep,
) -> FeedbackObject:
    """Rate an answer of the caller's project; rating it again keeps the history."""
    return await service.create(container, api_key.project_id, api_key.id, body)


async def _dataset(container: Container, caller: Meter, body: FeedbackDatasetRequest) -> FileObject:
    return await service.make_dataset(container, caller, body)


CREATE_FEEDBACK_DATASET = Operation(
    name="CreateFeedbackDataset",
    path="/v1/feedback/datasets",
    request=FeedbackDatasetRequest,
    response=FileObject,
    run=_dataset,
    scope=Scope.CHAT,
)


@router.post(
    "/feedback/datasets",
    response_model=FileObject,
    openapi_extra=request_body(FeedbackDatasetRequest),
)
async def create_feedback_dataset(
    body: Annotated[FeedbackDatasetRequest, ParsedBody(FeedbackDatasetRequest)],
    meter: MeterDep,
    container: ContainerDep,
) -> FileObject:
    """An eval dataset of ratings, as a file of ``purpose: evals``."""
    return await service.make_dataset(container, meter, body)


@router.get("/feedback", response_model=FeedbackList)
async def list_feedback(
    query: Annotated[FeedbackListQuery, Query()], api_key: ApiKeyDep, container: ContainerDep
) -> FeedbackList:
    """Ratings, newest first: each subject's latest unless ``history=true``."""
    return await service.list_feedback(container, api_key.project_id, query)


@router.get("/feedback/export", response_class=StreamingResponse, responses=_EXPORT)
async def export_feedback(
    query: Annotated[FeedbackQuery, Query()], api_key: ApiKeyDep, container: ContainerDep
) -> StreamingResponse:
    """Every matching rating with the exchange it rates, as JSON lines (streamed)."""
    lines = service.export_lines(container, api_key.project_id, query)
    return StreamingResponse(lines, media_type="application/x-ndjson")


@router.get("/feedback/{feedback_id:feedback_id}", response_model=FeedbackObject)
async def retrieve_feedback(
    feedback_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> FeedbackObject:
    """One rating."""
    return service.to_object(await container.feedback.get(api_key.project_id, feedback_id))


@router.delete("/feedback/{feedback_id:feedback_id}", response_model=FeedbackDeleted)
async def delete_feedback(
    feedback_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> FeedbackDeleted:
    """Delete one rating; the subject's previous one counts again."""
    await container.feedback.delete(api_key.project_id, feedback_id)
    return FeedbackDeleted(id=feedback_id)
