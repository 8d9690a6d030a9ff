"""``/v1/organization/usage/{completions,embeddings}``: OpenAI's Usage API, admin keys only.

The figures are the sums of what every request and job recorded (``governance.meter``):
exactly the ``usage`` the clients were given, to the token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from workhorse.api.usage.schemas import CompletionsPage, EmbeddingsPage
from workhorse.api.usage.service import (
    Group,
    UsageQuery,
    Width,
    completions_page,
    embeddings_page,
    parse_query,
)
from workhorse.governance.keys import Scope
from workhorse.http.auth import RequireScope
from workhorse.http.deps import ContainerDep

router = APIRouter(
    prefix="/organization/usage", tags=["usage"], dependencies=[RequireScope(Scope.ADMIN)]
)


def usage_query(  # the Usage API's query parameters, as OpenAI names them
    start_time: Annotated[int, Query(ge=0, description="Unix seconds, inclusive")],
    end_time: Annotated[int | None, Query(ge=1, description="Unix seconds, exclusive")] = None,
    bucket_width: Annotated[Width, Query(description="1m, 1h or 1d")] = "1d",
    group_by: Annotated[list[Group] | None, Query()] = None,
    project_ids: Annotated[list[str] | None, Query()] = None,
    api_key_ids: Annotated[list[str] | None, Query()] = None,
    models: Annotated[list[str] | None, Query()] = None,
    # The official SDKs send lists with brackets (group_by[]=model); both are read.
    group_by_: Annotated[list[Group] | None, Query(alias="group_by[]")] = None,
    project_ids_: Annotated[list[str] | None, Query(alias="project_ids[]")] = None,
    api_key_ids_: Annotated[list[str] | None, Query(alias="api_key_ids[]")] = None,
    models_: Annotated[list[str] | None, Query(alias="models[]")] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=1440, description="Buckets a page (at most 1440, 168, 31)")
    ] = None,
    page: Annotated[str | None, Query(description="next_page of the previous page")] = None,
) -> UsageQuery:
    return parse_query(
        start_time=start_time,
        end_time=end_time,
        bucket_width=bucket_width,
        group_by=[*(group_by or []), *(group_by_ or [])],
        project_ids=[*(project_ids or []), *(project_ids_ or [])],
        api_key_ids=[*(api_key_ids or []), *(api_key_ids_ or [])],
        models=[*(models or []), *(models_ or [])],
        limit=limit,
        page=page,
    )


QueryDep = Annotated[UsageQuery, Depends(usage_query)]


@router.get("/completions", response_model=CompletionsPage)
async def completions_usage(container: ContainerDep, query: QueryDep) -> CompletionsPage:
    """Tokens and model requests of chat completions, responses and messages."""
    return await completions_page(container.governor.usage, query)


@router.get("/embeddings", response_model=EmbeddingsPage)
async def embeddings_usage(container: ContainerDep, query: QueryDep) -> EmbeddingsPage:
    """Tokens and model requests of embeddings."""
    return await embeddings_page(container.governor.usage, query)
