"""Runs responses to their end, whatever happens to the client or the process.

Each generating response is a task here with an ``EventLog``. Its end is always stored:
``completed``, ``incomplete`` (out of tokens, or the client of a foreground stream left,
with the partial output and usage), ``failed`` (with the error) or ``cancelled``.

Leases make this safe with several processes: a response belongs to the process that
renews its lease. A sweeper in every process looks for responses whose lease ran out
(their process died, even by kill -9): a foreground one is marked ``incomplete``; a
background one is taken over and continued from its stored log, the model carrying on
from the text already sent (so no event is lost or repeated), up to ``max_attempts``
times, after which it is ``failed`` with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from workhorse.errors import BudgetExceeded, RateLimited, ServiceUnavailable, WorkhorseError
from workhorse.governance.meter import Meter, MeterFactory
from workhorse.obs.generation import watched
from workhorse.obs.metrics import JobAttempt, Metrics
from workhorse.obs.tracing import Tracing
from workhorse.providers.base import Finish, Generation, GenerationParams, TextDelta, ToolCallDone
from workhorse.providers.registry import ModelRegistry
from workhorse.responses.events import TERMINAL, ResponseBuilder, usage
from workhorse.responses.log import EventLog
from workhorse.responses.prompt import params_from_json
from workhorse.store.conversations import ConversationStore
from workhorse.store.responses import Completion, Json, ResponseStore, StoredResponse

log = logging.getLogger("workhorse.responses")

POLL_S = 0.1
"""How often a reader of a response generating in another process looks for new events."""


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("a response runner crashed", exc_info=task.exception())


@dataclass
class Job:
    """One response to generate."""

    response_id: str
    model_id: str
    params: GenerationParams
    builder: ResponseBuilder
    background: bool
    stored: bool
    stream: bool = False
    conversation_id: str | None = None
    input_items: list[Json] = field(default_factory=list)
    prior_output_tokens: int = 0
    search: tuple[str, list[Json] | None] | None = None
    """The file search that ran for it: its query, and its results if included."""
    meter: Meter | None = None
    """Who pays for it: its generation is reserved and settled on this meter."""
    attempt: int = 1


def reservation_of(response_id: str, attempt: int) -> str:
    """The token reservation of one attempt at a response (a takeover is another)."""
    return f"{response_id}.{attempt}"


class LiveRun:
    """A response generating in this process."""

    def __init__(self, job: Job, event_log: EventLog) -> None:
        self.job = job
        self.log = event_log
        self.stop_reason: str | None = None
        self.generation: Generation | None = None
        self.finishing = False
        self.done: asyncio.Future[Json] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[None] | None = None


class ResponseRunner:
    """Every response generating in this process, and the sweeper of abandoned ones."""

    def __init__(
        self,
        store: ResponseStore,
        conversations: ConversationStore,
        models: ModelRegistry,
        metrics: Metrics,
        *,
        max_attempts: int,
        meters: MeterFactory | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self._meters = meters
        self._tracing = tracing if tracing is not None else Tracing({})
        self._store = store
        self._conversations = conversations
        self._models = models
        self._metrics = metrics
        self._max_attempts = max_attempts
        lease_s = store.lease.total_seconds()
        self._heartbeat_s = lease_s / 3
        self._sweep_s = lease_s / 2
        self._live: dict[str, LiveRun] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    # -- running ---------------------------------------------------------------------

    def launch(self, job: Job, generation: Generation | None) -> LiveRun:
        """Run ``job`` in the background of this process; ``generation`` if already started."""
        run_id = job.response_id
        event_log = EventLog(
            self._store,
            run_id,
            job.builder.next_seq,
            publish=job.background or job.stream,
            heartbeat_s=self._heartbeat_s,
            on_cancel=lambda: self.stop(run_id, "cancelled"),
            on_lease_lost=lambda: self.stop(run_id, "lease_lost"),
        )
        live = LiveRun(job, event_log)
        live.generation = generation
        self._live[run_id] = live
        live.task = asyncio.create_task(self._run(live), name=f"response-{run_id}")
        live.task.add_done_callback(_report_crash)
        return live

    def stop(self, response_id: str, reason: str) -> None:
        """Stop a response generating here: ``cancelled``, ``client_disconnected``, ..."""
        live = self._live.get(response_id)
        if live is None or live.finishing or live.stop_reason is not None:
            return
        live.stop_reason = reason
        if live.generation is not None:
            closing = asyncio.create_task(live.generation.aclose())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        elif live.task is not None:
            live.task.cancel()  # still waiting for the model: nothing written yet

    async def _start(self, live: LiveRun) -> Generation:
        job = live.job
        model = await self._models.chat_model(job.model_id)
        while True:
            try:
                if job.meter is None:
                    starting = model.start(job.params)
                else:
                    starting = job.meter.start(
                        model,
                        job.params,
                        reservation_of(job.response_id, job.attempt),
                        extra_output=job.prior_output_tokens,
                    )
                generation = await watched(
                    self._metrics, self._tracing, "responses", model, starting, job.params
                )
            except BudgetExceeded:
                raise  # no waiting out a spent budget: the response fails, saying why
            except RateLimited as exc:  # a background job waits its turn instead
                await asyncio.sleep(float(exc.headers.get("Retry-After", "1")))
                continue
            return generation

    async def _run(self, live: LiveRun) -> None:
        if not live.job.background:
            await self._run_attempt(live, None)
            return
        with self._metrics.job("background_response") as attempt:
            await self._run_attempt(live, attempt)

    async def _run_attempt(self, live: LiveRun, attempt: JobAttempt | None) -> None:
        job, builder = live.job, live.job.builder
        finish: Finish | None = None
        error: WorkhorseError | None = None
        try:
            try:
                if live.generation is None:
                    live.generation = await self._start(live)
                    if live.stop_reason is not None:
                        await live.generation.aclose()
                if not builder.started:
                    builder.begin(job.search)
                    live.log.add(builder.take())
                    await live.log.set_status("in_progress")
                async for event in live.generation:
                    if live.stop_reason is not None:
                        break
                    if isinstance(event, TextDelta):
                        builder.text_delta(event.text)
                    elif isinstance(event, ToolCallDone):
                        builder.tool_call(event.call)
                    else:
                        finish = event
                    live.log.add(builder.take())
            except asyncio.CancelledError:
                if live.stop_reason is None:
                    raise
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()
            except WorkhorseError as exc:
                error = exc
            except Exception as exc:  # translated at the edge; the type is logged
                log.error("response generation failed", exc_info=exc)
                error = WorkhorseError(f"model {job.model_id!r} failed while generating")
            finally:
                if live.generation is not None:
                    await live.generation.aclose()
            live.finishing = True
            if live.stop_reason == "lease_lost":
                log.warning("another process took over a response", extra={"id": job.response_id})
            if live.stop_reason in ("lease_lost", "server_shutdown") and (
                job.background or live.stop_reason == "lease_lost"
            ):
                await live.log.abandon()
            else:
                completion = self._completion(live, finish, error)
                live.log.add(builder.take())
                await live.log.finish(completion)
                if attempt is not None:
                    reason = error.code if error is not None else None
                    attempt.ended(completion.status, reason)
        except (SQLAlchemyError, OSError, WorkhorseError) as exc:
            # The end could not be stored: the lease runs out and a sweeper settles it.
            log.warning("could not store the end of a response", exc_info=exc)
            await live.log.abandon()
            if not live.done.done():
                live.done.set_exception(
                    ServiceUnavailable("the response could not be stored; retry the request")
                )
        finally:
            self._live.pop(job.response_id, None)
            if not live.done.done():
                live.done.set_result(builder.response)

    def _completion(
        self, live: LiveRun, finish: Finish | None, error: WorkhorseError | None
    ) -> Completion:
        job, generation = live.job, live.generation
        if generation is not None:
            used = usage(
                generation.prompt_tokens, job.prior_output_tokens + generation.completion_tokens
            )
        else:
            used = None
        if finish is not None and live.stop_reason is None:
            used = usage(finish.prompt_tokens, job.prior_output_tokens + finish.completion_tokens)
            if finish.finish_reason == "length":
                return self._end(job, "incomplete", used, reason="max_output_tokens")
            return self._end(job, "completed", used)
        if live.stop_reason == "cancelled":
            return self._end(job, "cancelled", used)
        if live.stop_reason is not None:
            return self._end(job, "incomplete", used, reason=live.stop_reason)
        failure = error or WorkhorseError(f"model {job.model_id!r} ended without finishing")
        return self._end(
            job,
            "failed",
            used,
            error={"code": failure.code or failure.error_type, "message": failure.message},
        )

    def _end(
        self,
        job: Job,
        status: str,
        used: Json | None,
        *,
        reason: str | None = None,
        error: Json | None = None,
    ) -> Completion:
        builder = job.builder
        builder.finish(
            status,
            usage_=used,
            incomplete_reason=reason,
            error=error,
            completed_at=int(time.time()),
        )
        return Completion(status, builder.response, also=self._also(job, status))

    def _also(self, job: Job, status: str) -> Any:
        items = job.input_items + list(job.builder.response["output"])
        conversation_id, stored = job.conversation_id, job.stored
        conversations, store = self._conversations, self._store

        def work(conn: Connection) -> None:
            if conversation_id is not None and status in ("completed", "incomplete"):
                conversations.append_items_in(conn, conversation_id, items)
            if not stored:  # store=false: nothing stays once the answer is out
                store.delete_in(conn, job.response_id)

        return work

    # -- reading ---------------------------------------------------------------------

    async def follow(self, response_id: str, after: int) -> AsyncIterator[Json]:
        """Events after sequence number ``after``, as they are stored, up to the last one."""
        next_seq = after + 1
        while True:
            live = self._live.get(response_id)
            if live is not None and next_seq >= live.log.first_seq and not live.log.closed:
                changed = live.log.changed
                events = live.log.since(next_seq)
                if not events:
                    await changed.wait()
                    continue
            else:
                events = await self._store.events_after(response_id, next_seq - 1)
                if not events:
                    if await self._still_running(response_id):
                        await asyncio.sleep(POLL_S)
                        continue
                    events = await self._store.events_after(response_id, next_seq - 1)
                    if not events:
                        return
            for event in events:
                next_seq = event["sequence_number"] + 1
                yield event
                if event["type"] in TERMINAL:
                    return

    async def disconnected(self, response_id: str) -> None:
        """The client of a foreground stream left: stop the generation (no-op once it
        has ended); it is stored as ``incomplete``."""
        self.stop(response_id, "client_disconnected")

    async def _still_running(self, response_id: str) -> bool:
        if response_id in self._live:
            return True
        found = await self._store.find(response_id)
        return found is not None and found.status in ("queued", "in_progress")

    # -- taking over -----------------------------------------------------------------

    def start_sweeping(self) -> None:
        """Look for abandoned responses now and every half lease."""
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="sweep-responses")

    async def _sweep_forever(self) -> None:
        while True:
            try:
                for response_id in await self._store.expired():
                    record = await self._store.claim(response_id)
                    if record is not None:
                        await self._take_over(record)
            except (SQLAlchemyError, OSError) as exc:
                log.warning("could not sweep abandoned responses", exc_info=exc)
            await asyncio.sleep(self._sweep_s)

    async def _take_over(self, record: StoredResponse) -> None:
        events = await self._store.events_after(record.id, -1, limit=10_000_000)
        builder = ResponseBuilder.replay(record.object, events)
        builder.citations = record.request.get("citations", [])
        search = record.request.get("search")
        meter = None
        if self._meters is not None and record.api_key_id is not None:
            meter = await self._meters(record.owner, record.api_key_id)
            for attempt in range(1, record.attempts):  # what died with its process
                await meter.abandon(reservation_of(record.id, attempt))
        # The attempt that died with its process ends here, counted by who found it.
        self._metrics.generation_requests.labels(record.model, "responses", "interrupted").inc()
        job = Job(
            response_id=record.id,
            model_id=record.model,
            params=params_from_json(record.request["generation"]),
            builder=builder,
            background=record.background,
            stored=record.stored,
            conversation_id=record.conversation_id,
            input_items=record.input_items,
            search=(search[0], search[1]) if search else None,
            meter=meter,
            attempt=record.attempts,
        )
        if record.cancel_requested:
            await self._settle(job, "cancelled")
        elif not record.background:
            await self._settle(job, "incomplete", reason="interrupted")
        elif record.attempts > self._max_attempts:
            await self._settle(
                job,
                "failed",
                error={
                    "code": "interrupted",
                    "message": f"the generation was interrupted {record.attempts - 1} times "
                    "(its server stopped); giving up",
                },
            )
        else:
            log.info("resuming an interrupted background response", extra={"id": record.id})
            self._metrics.jobs_taken_over.labels("background_response").inc()
            deltas = sum(1 for e in events if e["type"] == "response.output_text.delta")
            job.prior_output_tokens = deltas
            limit = job.params.max_tokens
            job.params = replace(
                job.params,
                assistant_prefix=builder.text,
                max_tokens=max(limit - deltas, 1) if limit is not None else None,
            )
            self.launch(job, None)

    async def _settle(
        self, job: Job, status: str, *, reason: str | None = None, error: Json | None = None
    ) -> None:
        first_seq = job.builder.next_seq
        completion = self._end(job, status, None, reason=reason, error=error)
        await self._store.finish(job.response_id, first_seq, job.builder.take(), completion)

    async def aclose(self) -> None:
        """Stop sweeping; end foreground runs as incomplete and hand background ones back."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        runs = list(self._live.values())
        for live in runs:
            self.stop(live.job.response_id, "server_shutdown")
        for live in runs:
            if live.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await live.task
