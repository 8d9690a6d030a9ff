"""Jobs: fine-tuning jobs (live status, the training-loss chart, events, cancel, pause,
resume), eval runs (pass rates, and the items where runs disagree), and the knowledge
bases still reading files."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from workhorse.api.evals import service as evals_service
from workhorse.api.evals.run_schemas import OutputItemListQuery, RunListQuery, RunObject
from workhorse.api.fine_tuning import service as tuning_service
from workhorse.container import Container
from workhorse.evals.compare import disagreements
from workhorse.governance.keys import Scope
from workhorse.http.deps import ContainerDep
from workhorse.web.forms import new_form_key, once
from workhorse.web.pages import ConsoleRoute, PagesDep
from workhorse.web.session import Visitor, VisitorDep, visitor_form

router = APIRouter(prefix="/jobs", route_class=ConsoleRoute, include_in_schema=False)
JOBS_SHOWN = 20
EVENTS_SHOWN = 100
RUNS_SHOWN = 20
ITEMS_PER_RUN = 100
ENDED = ("succeeded", "failed", "cancelled")
RUN_ENDED = ("completed", "failed", "canceled")
STORES_CHECKED = 50


async def _ingesting(container: Container, visitor: Visitor) -> list[dict[str, object]]:
    """The knowledge bases with files being read or failed."""
    if not visitor.may(Scope.KNOWLEDGE, "GET"):
        return []
    records, _ = await container.vector_stores.page(
        visitor.key.project_id, limit=STORES_CHECKED, after=None, order="desc"
    )
    counts = await container.vector_stores.counts([r.id for r in records])
    shown = []
    for record in records:
        files = counts[record.id][0]
        if files.in_progress or files.failed:
            shown.append({"id": record.id, "name": record.name or record.id, "counts": files})
    return shown


@router.get("")
async def jobs(
    request: Request, visitor: VisitorDep, container: ContainerDep, pages: PagesDep
) -> HTMLResponse:
    """Every kind of job of the project, newest first."""
    owner = visitor.key.project_id
    tuning = None
    if visitor.may(Scope.FINE_TUNING, "GET"):
        listed = await tuning_service.list_jobs(
            container, owner, after=None, limit=JOBS_SHOWN, metadata=None
        )
        tuning = listed.data
    evals = None
    if visitor.may(Scope.CHAT, "GET"):
        records, _ = await container.evals.page(
            owner, after=None, limit=JOBS_SHOWN, ascending=False, by_updated=True
        )
        evals = [{"id": r.id, "name": r.name} for r in records]
    context = {
        "visitor": visitor,
        "tuning": tuning,
        "evals": evals,
        "ingesting": await _ingesting(container, visitor),
    }
    return pages.render(request, "jobs.html", context)


def _losses(events: list[Any]) -> list[dict[str, float]]:
    """The training (and validation) loss at each step, oldest first."""
    points = []
    for event in reversed(events):
        data = event.data or {}
        if event.type == "metrics" and "step" in data and "train_loss" in data:
            point = {"step": float(data["step"]), "train_loss": float(data["train_loss"])}
            if "valid_loss" in data:
                point["valid_loss"] = float(data["valid_loss"])
            points.append(point)
    return points


async def _tuning_context(container: Container, visitor: Visitor, job_id: str) -> dict[str, object]:
    owner = visitor.key.project_id
    job = await tuning_service.retrieve(container, owner, job_id)
    events = await tuning_service.events(container, owner, job_id, after=None, limit=EVENTS_SHOWN)
    return {
        "visitor": visitor,
        "job": job,
        "live": job.status not in ENDED,
        "events": events.data,
        "losses": _losses(events.data),
        "form_key": new_form_key(),
    }


@router.get("/fine-tuning/{job_id}")
async def tuning_job(
    job_id: str,
    request: Request,
    visitor: VisitorDep,
    container: ContainerDep,
    pages: PagesDep,
) -> HTMLResponse:
    """A fine-tuning job: its status, loss chart, events and controls."""
    visitor.require(Scope.FINE_TUNING, "GET")
    context = await _tuning_context(container, visitor, job_id)
    return pages.render(request, "tuning_job.html", context)


@router.get("/fine-tuning/{job_id}/live")
async def tuning_job_live(
    job_id: str,
    request: Request,
    visitor: VisitorDep,
    container: ContainerDep,
    pages: PagesDep,
) -> HTMLResponse:
    """The job's live part alone (status, chart data, events): what the page polls."""
    visitor.require(Scope.FINE_TUNING, "GET")
    context = await _tuning_context(container, visitor, job_id)
    return pages.render(request, "tuning_live.html", context)


@router.post("/fine-tuning/{job_id}/{action}")
async def tuning_action(
    job_id: str,
    action: Literal["cancel", "pause", "resume"],
    request: Request,
    visitor: VisitorDep,
    container: ContainerDep,
) -> Response:
    """Cancel, pause or resume the job."""
    visitor.require(Scope.FINE_TUNING, "POST")
    form = await visitor_form(request, visitor)
    owner = visitor.key.project_id

    async def run() -> str:
        if action == "cancel":
            await tuning_service.cancel(container, owner, job_id)
        elif action == "pause":
            await tuning_service.pause(container, owner, job_id)
        else:
            await tuning_service.resume(container, owner, job_id)
        return f"/jobs/fine-tuning/{job_id}"

    return await once(request, visitor, form, run)


def _rate(run: RunObject) -> float | None:
    counts = run.result_counts
    graded = counts.passed + counts.failed
    return counts.passed / graded if graded else None


async def _items(
    container: Container, owner: str, eval_id: str, run: RunObject
) -> dict[int, dict[str, Any]]:
    page = await evals_service.list_output_items(
        container,
        owner,
        eval_id,
        run.id,
        OutputItemListQuery.model_validate({"limit": ITEMS_PER_RUN, "order": "asc"}),
    )
    return {i.datasource_item_id: i.model_dump() for i in page.data}


def _output_text(item: dict[str, Any] | None) -> str:
    if item is None:
        return ""
    sample = item.get("sample") or {}
    outputs = sample.get("output") or []
    return " ".join(str(o.get("content", "")) for o in outputs if isinstance(o, dict))


@router.get("/evals/{eval_id}")
async def eval_runs(
    eval_id: str,
    request: Request,
    visitor: VisitorDep,
    container: ContainerDep,
    pages: PagesDep,
    runs: Annotated[list[str] | None, Query()] = None,
) -> HTMLResponse:
    """An eval's runs with their pass rates per criterion, and the items where the
    compared runs (the newest two ended ones, or those named) disagree."""
    visitor.require(Scope.CHAT, "GET")
    owner = visitor.key.project_id
    record = await container.evals.get(owner, eval_id)
    listed = await evals_service.list_runs(
        container,
        owner,
        eval_id,
        RunListQuery.model_validate({"limit": RUNS_SHOWN, "order": "desc"}),
    )
    ended = [r for r in listed.data if r.status in RUN_ENDED]
    chosen = [r for r in ended if r.id in runs] if runs else list(reversed(ended[:2]))
    by_run = [await _items(container, owner, eval_id, r) for r in chosen]
    differing = disagreements(by_run) if len(chosen) > 1 else []
    rows = []
    for index in differing:
        first = next((items[index] for items in by_run if index in items), {})
        rows.append(
            {
                "index": index,
                "item": first.get("datasource_item", {}),
                "cells": [
                    {
                        "status": items.get(index, {}).get("status", "missing"),
                        "output": _output_text(items.get(index)),
                    }
                    for items in by_run
                ],
            }
        )
    context = {
        "visitor": visitor,
        "eval": {"id": record.id, "name": record.name},
        "runs": [{"run": r, "rate": _rate(r)} for r in listed.data],
        "live": any(r.status not in RUN_ENDED for r in listed.data),
        "compared": chosen,
        "disagreements": rows,
    }
    return pages.render(request, "eval_runs.html", context)
