"""``/v1/evals``: evals, their runs (durable jobs) and the runs' output items, as OpenAI's
Evals API has them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from workhorse.api.evals import service
from workhorse.api.evals.run_schemas import (
    OutputItemList,
    OutputItemListQuery,
    OutputItemObject,
    RunCreateRequest,
    RunDeleted,
    RunList,
    RunListQuery,
    RunObject,
    SoapRunCreateRequest,
)
from workhorse.api.evals.schemas import (
    EvalCreateRequest,
    EvalDeleted,
    EvalList,
    EvalListQuery,
    EvalObject,
    EvalUpdateRequest,
)
from workhorse.container import Container
from workhorse.governance.keys import Scope
from workhorse.governance.meter import Meter
from workhorse.http.auth import ApiKeyDep, MeterDep, RequireScope
from workhorse.http.bodies import ParsedBody, request_body
from workhorse.http.deps import ContainerDep
from workhorse.http.operations import Operation

router = APIRouter(tags=["evals"], dependencies=[RequireScope(Scope.CHAT)])

RUN = "/evals/{eval_id}/runs/{run_id}"


async def _create(container: Container, caller: Meter, body: EvalCreateRequest) -> EvalObject:
    return await service.create_eval(container, caller, body)


CREATE_EVAL = Operation(
    name="CreateEval",
    path="/v1/evals",
    request=EvalCreateRequest,
    response=EvalObject,
    run=_create,
    scope=Scope.CHAT,
)


async def _create_run(container: Container, caller: Meter, body: SoapRunCreateRequest) -> RunObject:
    request = RunCreateRequest.model_validate(body.model_dump(exclude={"eval_id"}))
    return await service.create_run(container, caller, body.eval_id, request)


CREATE_EVAL_RUN = Operation(
    name="CreateEvalRun",
    path="/v1/evals/{eval_id}/runs",
    request=SoapRunCreateRequest,
    response=RunObject,
    run=_create_run,
    scope=Scope.CHAT,
)


@router.post("/evals", response_model=EvalObject, openapi_extra=request_body(EvalCreateRequest))
async def create_eval(
    body: Annotated[EvalCreateRequest, ParsedBody(EvalCreateRequest)],
    meter: MeterDep,
    container: ContainerDep,
) -> EvalObject:
    """An eval: the schema of its items and the graders its runs apply."""
    return await service.create_eval(container, meter, body)


@router.get("/evals", response_model=EvalList)
async def list_evals(
    query: Annotated[EvalListQuery, Query()], api_key: ApiKeyDep, container: ContainerDep
) -> EvalList:
    """The project's evals."""
    return await service.list_evals(container, api_key.project_id, query)


@router.get("/evals/{eval_id}", response_model=EvalObject)
async def retrieve_eval(eval_id: str, api_key: ApiKeyDep, container: ContainerDep) -> EvalObject:
    """One eval."""
    return service.to_eval(await container.evals.get(api_key.project_id, eval_id))


@router.post(
    "/evals/{eval_id}", response_model=EvalObject, openapi_extra=request_body(EvalUpdateRequest)
)
async def update_eval(
    eval_id: str,
    body: Annotated[EvalUpdateRequest, ParsedBody(EvalUpdateRequest)],
    api_key: ApiKeyDep,
    container: ContainerDep,
) -> EvalObject:
    """Rename an eval or replace its metadata."""
    return await service.update_eval(container, api_key.project_id, eval_id, body)


@router.delete("/evals/{eval_id}", response_model=EvalDeleted)
async def delete_eval(eval_id: str, api_key: ApiKeyDep, container: ContainerDep) -> EvalDeleted:
    """Delete an eval with its runs (a running one stops)."""
    await service.delete_eval(container, api_key.project_id, eval_id)
    return EvalDeleted(eval_id=eval_id)


@router.post(
    "/evals/{eval_id}/runs", response_model=RunObject, openapi_extra=request_body(RunCreateRequest)
)
async def create_run(
    eval_id: str,
    body: Annotated[RunCreateRequest, ParsedBody(RunCreateRequest)],
    meter: MeterDep,
    container: ContainerDep,
) -> RunObject:
    """Run the eval over a data source: a durable job that grades every item once."""
    return await service.create_run(container, meter, eval_id, body)


@router.get("/evals/{eval_id}/runs", response_model=RunList)
async def list_runs(
    eval_id: str,
    query: Annotated[RunListQuery, Query()],
    api_key: ApiKeyDep,
    container: ContainerDep,
) -> RunList:
    """The eval's runs."""
    return await service.list_runs(container, api_key.project_id, eval_id, query)


@router.get(RUN, response_model=RunObject)
async def retrieve_run(
    eval_id: str, run_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> RunObject:
    """One run, with its counts so far."""
    return await service.get_run(container, api_key.project_id, eval_id, run_id)


@router.post(RUN, response_model=RunObject)
async def cancel_run(
    eval_id: str, run_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> RunObject:
    """Cancel a run (OpenAI's route); it stops within a second."""
    return await service.cancel_run(container, api_key.project_id, eval_id, run_id)


@router.post(RUN + "/cancel", response_model=RunObject)
async def cancel_run_by_name(
    eval_id: str, run_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> RunObject:
    """Cancel a run (the route the ``openai`` SDK calls); it stops within a second."""
    return await service.cancel_run(container, api_key.project_id, eval_id, run_id)


@router.delete(RUN, response_model=RunDeleted)
async def delete_run(
    eval_id: str, run_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> RunDeleted:
    """Delete a run and its output items (a running one stops)."""
    await service.delete_run(container, api_key.project_id, eval_id, run_id)
    return RunDeleted(run_id=run_id)


@router.get(RUN + "/output_items", response_model=OutputItemList)
async def list_output_items(
    eval_id: str,
    run_id: str,
    query: Annotated[OutputItemListQuery, Query()],
    api_key: ApiKeyDep,
    container: ContainerDep,
) -> OutputItemList:
    """The run's graded items, in grading order."""
    return await service.list_output_items(container, api_key.project_id, eval_id, run_id, query)


@router.get(RUN + "/output_items/{output_item_id}", response_model=OutputItemObject)
async def retrieve_output_item(
    eval_id: str, run_id: str, output_item_id: str, api_key: ApiKeyDep, container: ContainerDep
) -> OutputItemObject:
    """One graded item."""
    return await service.get_output_item(
        container, api_key.project_id, eval_id, run_id, output_item_id
    )
