"""Eval runs in a running server: the supervisor of each run, the models it calls, and
the sweeper.

A run is claimed under a lease and graded by ``evals.engine.RunEngine``; if the server
dies, the sweeper of a live one queues the run again once the lease has run out, and the
next claim resumes at the first ungraded item. The samples and model graders run on the
server's models, metered to the key that created the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from workhorse.api.vector_stores.grounding import ground
from workhorse.api.vector_stores.schemas import FileSearch
from workhorse.container import Container
from workhorse.errors import InvalidRequest, WorkhorseError
from workhorse.evals.engine import Generated, RunEngine
from workhorse.evals.similarity import Similarity
from workhorse.jobs.queue import EvalQueue, RetryLater
from workhorse.obs.generation import watched
from workhorse.providers.base import ChatMessage, Finish, GenerationParams, Role, TextDelta
from workhorse.store.eval_runs import RunRecord

log = logging.getLogger("workhorse.jobs")

GRADER_MAX_TOKENS = 16
"""The longest answer of a model grader (a label or a number) unless its sampling says."""
_ROLES: tuple[Role, ...] = ("system", "user", "assistant")


class ModelGenerator:
    """Answers an eval run's prompts on this process's models, paid by the run's key."""

    def __init__(self, container: Container) -> None:
        self._container = container

    async def generate(
        self,
        run: RunRecord,
        model: str,
        messages: list[dict[str, str]],
        sampling: dict[str, Any],
        *,
        labels: Sequence[str] = (),
        number: bool = False,
        file_search: dict[str, Any] | None = None,
    ) -> Generated:
        container = self._container
        meter = await container.meters(run.owner, run.api_key_id or "")
        chat = await container.models.chat_model(model)
        limit = sampling.get("max_completion_tokens") or sampling.get("max_completions_tokens")
        if limit is None and (labels or number):
            limit = max([GRADER_MAX_TOKENS, *(len(label) for label in labels)])
        params = GenerationParams(
            messages=[
                ChatMessage(role=m["role"] if m["role"] in _ROLES else "user", content=m["content"])
                for m in messages
            ],
            max_tokens=limit,
            temperature=sampling.get("temperature"),
            top_p=sampling.get("top_p"),
            seed=sampling.get("seed"),
            choices=tuple(labels),
            number=number,
            incremental=False,
        )
        results = None
        if file_search is not None:
            try:
                search = FileSearch.model_validate(file_search)
            except ValidationError as exc:
                raise InvalidRequest(f"file_search: {exc.errors()[0]['msg']}") from exc
            asked = [m["content"] for m in messages if m["role"] == "user"]
            grounding = await ground(
                container,
                meter,
                search,
                asked[-1] if asked else "",
                context_window=chat.context_window,
            )
            excerpts = grounding.message()
            if excerpts is not None:
                params = replace(params, messages=[excerpts, *params.messages])
            results = grounding.result_items()
        generation = await watched(
            container.metrics, container.tracing, "evals", chat, meter.start(chat, params), params
        )
        parts: list[str] = []
        finish: Finish | None = None
        try:
            async for event in generation:
                if isinstance(event, TextDelta):
                    parts.append(event.text)
                elif isinstance(event, Finish):
                    finish = event
        finally:
            await generation.aclose()
        if finish is None:
            raise WorkhorseError(f"model {model!r} ended without finishing")
        return Generated(
            "".join(parts),
            model,
            finish.finish_reason,
            finish.prompt_tokens,
            finish.completion_tokens,
            results,
        )


class EvalWorkers:
    """Runs this server's share of eval runs and sweeps for abandoned ones."""

    def __init__(self, container: Container) -> None:
        settings = container.settings
        self._container = container
        self._queue: EvalQueue = container.eval_queue
        self._lease = timedelta(seconds=settings.eval_lease_s)
        self._requeue_after = timedelta(seconds=settings.eval_requeue_after_s)
        self._sweep_s = min(settings.eval_lease_s, settings.eval_requeue_after_s) / 2
        self._engine = RunEngine(
            container.evals,
            container.eval_runs,
            container.eval_items,
            ModelGenerator(container),
            Similarity(settings.data_dir / "cache"),
            settings.data_dir,
            concurrency=settings.eval_concurrency,
            lease=self._lease,
        )
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Take eval runs from their queue; sweep now and then."""
        self._queue.on_run(self.run)
        self._queue.start(asyncio.get_running_loop())
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="sweep-evals")

    async def _sweep_forever(self) -> None:
        store = self._container.eval_runs
        while True:
            try:
                for run_id in await store.stale(self._requeue_after):
                    log.info("queueing an abandoned eval run again", extra={"run": run_id})
                    await store.mark_enqueued(run_id)
                    await self._queue.enqueue(run_id)
            except (SQLAlchemyError, OSError) as exc:
                log.warning("could not sweep eval runs", exc_info=exc)
            await asyncio.sleep(self._sweep_s)

    async def aclose(self) -> None:
        """Stop sweeping and taking runs (a running one is left to its lease)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        await asyncio.to_thread(self._queue.stop)

    async def run(self, run_id: str) -> None:
        """Run the eval run if no one else holds it; resumes at its first ungraded item."""
        container = self._container
        claimed = await container.eval_runs.claim(run_id, self._lease)
        if claimed is None:
            return
        run, token, taken_over = claimed
        metrics = container.metrics
        if taken_over:
            metrics.jobs_taken_over.labels("eval_run").inc()
        span = container.tracing.job_span(
            "eval-run", run.traceparent, **{"workhorse.eval_run_id": run.id}
        )
        with span, metrics.job("eval_run") as attempt:
            try:
                ended = await self._engine.run(run, token)
            except (SQLAlchemyError, OSError) as exc:
                log.warning(
                    "an eval run stopped; it runs again", extra={"run": run.id}, exc_info=exc
                )
                with contextlib.suppress(SQLAlchemyError, OSError):
                    await container.eval_runs.release(run.id, token)
                attempt.ended("retried")
                raise RetryLater(f"eval run {run.id} stopped: {exc}") from exc
            if ended == "completed":
                attempt.ended("completed")
            elif ended == "failed":
                attempt.ended("failed", "items_unreadable")
            else:
                attempt.ended("cancelled")
