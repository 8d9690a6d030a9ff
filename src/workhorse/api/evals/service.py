"""Evals, runs and output items: created, read, listed, cancelled, deleted (no HTTP)."""

from __future__ import annotations

import asyncio
from typing import Any

from workhorse.api.evals.items import item_validator, write_items
from workhorse.api.evals.run_schemas import (
    OutputItemList,
    OutputItemListQuery,
    OutputItemObject,
    PerCriterionResult,
    PerModelUsage,
    ResultCounts,
    RunCreateRequest,
    RunError,
    RunList,
    RunListQuery,
    RunObject,
)
from workhorse.api.evals.schemas import (
    DataSourceConfigOut,
    EvalCreateRequest,
    EvalList,
    EvalListQuery,
    EvalObject,
    EvalUpdateRequest,
)
from workhorse.container import Container
from workhorse.evals.engine import items_path
from workhorse.governance.meter import Meter
from workhorse.obs.tracing import current_traceparent
from workhorse.store.eval_items import OutputItem
from workhorse.store.eval_runs import NewRun, RunRecord, new_run_id
from workhorse.store.evals import EvalRecord

SAMPLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "model": {"type": "string"},
        "choices": {"type": "array"},
        "output_text": {"type": "string"},
        "output": {"type": "array"},
        "usage": {"type": "object"},
    },
    "required": ["output_text"],
}
"""The ``sample`` namespace: what a run's model answered."""

LOG_ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "input": {"type": "array", "items": {"type": "object"}},
        "output": {"type": ["string", "null"]},
        "model": {"type": ["string", "null"]},
        "metadata": {"type": "object"},
    },
    "required": ["input"],
}
"""The ``item`` namespace of stored chat completions and responses."""


def _config_out(config: dict[str, Any]) -> DataSourceConfigOut:
    if config["type"] == "custom":
        properties = {"item": config["item_schema"]}
        required = ["item"]
        if config.get("include_sample_schema"):
            properties["sample"] = SAMPLE_SCHEMA
            required.append("sample")
        schema = {"type": "object", "properties": properties, "required": required}
        return DataSourceConfigOut(type="custom", schema_=schema)
    schema = {
        "type": "object",
        "properties": {"item": LOG_ITEM_SCHEMA, "sample": SAMPLE_SCHEMA},
        "required": ["item", "sample"],
    }
    return DataSourceConfigOut(type=config["type"], schema_=schema, metadata=config.get("metadata"))


def to_eval(record: EvalRecord) -> EvalObject:
    return EvalObject.model_validate(
        {
            "id": record.id,
            "name": record.name,
            "created_at": record.created_at,
            "data_source_config": _config_out(record.data_source_config),
            "testing_criteria": record.testing_criteria,
            "metadata": record.metadata,
        }
    )


async def create_eval(container: Container, caller: Meter, body: EvalCreateRequest) -> EvalObject:
    config = body.data_source_config.model_dump(exclude_none=True)
    if config["type"] == "custom":
        item_validator(config["item_schema"], "data_source_config.item_schema")
    record = await container.evals.create(
        caller.project_id,
        caller.api_key_id,
        name=body.name or "eval",
        data_source_config=config,
        testing_criteria=[c.model_dump(exclude_none=True) for c in body.testing_criteria],
        metadata=body.metadata or {},
    )
    return to_eval(record)


async def list_evals(container: Container, owner: str, query: EvalListQuery) -> EvalList:
    records, more = await container.evals.page(
        owner,
        after=query.after,
        limit=query.limit,
        ascending=query.order == "asc",
        by_updated=query.order_by == "updated_at",
    )
    data = [to_eval(r) for r in records]
    return EvalList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=more,
    )


async def update_eval(
    container: Container, owner: str, eval_id: str, body: EvalUpdateRequest
) -> EvalObject:
    record = await container.evals.update(owner, eval_id, name=body.name, metadata=body.metadata)
    return to_eval(record)


async def delete_eval(container: Container, owner: str, eval_id: str) -> None:
    runs = await _all_runs(container, owner, eval_id)
    await container.evals.delete(owner, eval_id)
    for run_id in runs:
        items_path(container.settings.data_dir, run_id).unlink(missing_ok=True)


async def _all_runs(container: Container, owner: str, eval_id: str) -> list[str]:
    found: list[str] = []
    after = None
    while True:
        page, more = await container.eval_runs.page(
            owner, eval_id, status=None, after=after, limit=100, ascending=True
        )
        found += [r.id for r in page]
        if not more or not page:
            return found
        after = page[-1].id


# -- runs ------------------------------------------------------------------------------


async def create_run(
    container: Container, caller: Meter, eval_id: str, body: RunCreateRequest
) -> RunObject:
    """Check and keep the run's items, then queue the run."""
    owner = caller.project_id
    found = await container.evals.get(owner, eval_id)
    config = found.data_source_config
    validator = (
        item_validator(config["item_schema"], "data_source_config.item_schema")
        if config["type"] == "custom"
        else None
    )
    run_id = new_run_id()
    path = items_path(container.settings.data_dir, run_id)
    written = await write_items(container, owner, body, validator, path)
    data_source = body.data_source.model_dump(exclude_none=True)
    try:
        record = await container.eval_runs.create(
            owner,
            NewRun(
                id=run_id,
                eval_id=eval_id,
                name=body.name or f"{found.name} run",
                model=getattr(body.data_source, "model", None),
                data_source=data_source,
                metadata=body.metadata or {},
                items_sha256=written.sha256,
                total=written.total,
                criteria=[c["name"] for c in found.testing_criteria],
                api_key_id=caller.api_key_id,
                traceparent=current_traceparent(),
            ),
        )
    except BaseException:
        await asyncio.to_thread(path.unlink, True)
        raise
    # Queued once the row exists; a lost queue entry is found by the sweeper.
    await container.eval_queue.enqueue(record.id)
    return await to_run(container, record)


async def to_run(container: Container, record: RunRecord) -> RunObject:
    criteria = await container.eval_runs.criteria(record.id)
    usage = await container.eval_items.usage(record.id)
    return RunObject(
        id=record.id,
        eval_id=record.eval_id,
        name=record.name,
        model=record.model,
        status=record.status,
        created_at=record.created_at,
        data_source=record.data_source,
        metadata=record.metadata,
        error=RunError(**record.error) if record.error else None,
        report_url=f"/v1/evals/{record.eval_id}/runs/{record.id}/output_items",
        result_counts=ResultCounts(
            total=record.total,
            passed=record.passed,
            failed=record.failed,
            errored=record.errored,
        ),
        per_model_usage=[
            PerModelUsage(
                model_name=u.model,
                invocation_count=u.invocations,
                prompt_tokens=u.prompt_tokens,
                completion_tokens=u.completion_tokens,
                total_tokens=u.prompt_tokens + u.completion_tokens,
                cached_tokens=0,
            )
            for u in usage
        ],
        per_testing_criteria_results=[
            PerCriterionResult(testing_criteria=name, passed=passed, failed=failed)
            for name, passed, failed in criteria
        ],
    )


async def get_run(container: Container, owner: str, eval_id: str, run_id: str) -> RunObject:
    await container.evals.get(owner, eval_id)
    return await to_run(container, await container.eval_runs.get(owner, eval_id, run_id))


async def list_runs(container: Container, owner: str, eval_id: str, query: RunListQuery) -> RunList:
    await container.evals.get(owner, eval_id)
    records, more = await container.eval_runs.page(
        owner,
        eval_id,
        status=query.status,
        after=query.after,
        limit=query.limit,
        ascending=query.order == "asc",
    )
    data = [await to_run(container, r) for r in records]
    return RunList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=more,
    )


async def cancel_run(container: Container, owner: str, eval_id: str, run_id: str) -> RunObject:
    """Cancel the run; its holder stops within a second (at its next heartbeat)."""
    await container.evals.get(owner, eval_id)
    return await to_run(container, await container.eval_runs.cancel(owner, eval_id, run_id))


async def delete_run(container: Container, owner: str, eval_id: str, run_id: str) -> None:
    await container.evals.get(owner, eval_id)
    await container.eval_runs.delete(owner, eval_id, run_id)
    items_path(container.settings.data_dir, run_id).unlink(missing_ok=True)


# -- output items ----------------------------------------------------------------------


def to_output_item(eval_id: str, item: OutputItem) -> OutputItemObject:
    return OutputItemObject(
        id=item.id,
        run_id=item.run_id,
        eval_id=eval_id,
        created_at=item.created_at,
        status=item.status,
        datasource_item_id=item.index,
        datasource_item=item.datasource_item,
        results=item.results,
        sample=item.sample,
    )


async def list_output_items(
    container: Container, owner: str, eval_id: str, run_id: str, query: OutputItemListQuery
) -> OutputItemList:
    await container.eval_runs.get(owner, eval_id, run_id)
    items, more = await container.eval_items.page(
        run_id,
        status=query.status,
        after=query.after,
        limit=query.limit,
        ascending=query.order == "asc",
    )
    data = [to_output_item(eval_id, i) for i in items]
    return OutputItemList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=more,
    )


async def get_output_item(
    container: Container, owner: str, eval_id: str, run_id: str, item_id: str
) -> OutputItemObject:
    await container.eval_runs.get(owner, eval_id, run_id)
    return to_output_item(eval_id, await container.eval_items.get(run_id, item_id))
