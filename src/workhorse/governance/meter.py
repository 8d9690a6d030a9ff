"""Who pays for a request, and what it spent: limits admitted, tokens reserved and settled,
usage recorded (no HTTP).

A ``Meter`` belongs to one request (or one background job) of one key. ``start`` reserves
the most tokens a generation can cost on the key's and its project's token limits, starts
it, and returns it wrapped: however it ends (finished, cut short by the client, cancelled,
interrupted, failed), the reservation settles once to the tokens really used, and the
usage record gains them, in one transaction.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import anyio

from workhorse.errors import LimitExceeded
from workhorse.governance.limits import Limits
from workhorse.providers.base import (
    ChatModel,
    Embedder,
    Embeddings,
    Finish,
    Generation,
    GenerationEvent,
    GenerationParams,
)
from workhorse.store.limits import Admission, LimitStore, Subject
from workhorse.store.usage import Spend, UsageStore, add_spend


def subjects_of(
    key_id: str, key_limits: Limits, project_id: str, project_limits: Limits
) -> tuple[Subject, ...]:
    """The limited subjects a key's request counts against: the key, then its project."""
    found = [
        Subject(f"key:{key_id}", key_limits),
        Subject(f"project:{project_id}", project_limits),
    ]
    return tuple(s for s in found if not s.limits.empty)


def _spends_tokens(subjects: tuple[Subject, ...]) -> bool:
    return any(s.limits.tpm is not None or s.limits.budget is not None for s in subjects)


MeterFactory = Callable[[str, str], Awaitable["Meter"]]
"""The meter of a key (project id, key id) with its current limits: for work that outlives
its request (a background response taken over after a crash)."""


@dataclass
class Governor:
    """The limit and usage stores of one process, shared by every meter."""

    limits: LimitStore
    usage: UsageStore


@dataclass
class Meter:
    """The spending of one request or job of one key."""

    governor: Governor
    project_id: str
    api_key_id: str
    subjects: tuple[Subject, ...] = ()
    warnings: list[str] = field(default_factory=list)
    """Soft budgets this request passed, for a header and the request's record."""
    input_tokens: int = 0
    output_tokens: int = 0
    recorded: bool = False
    """Whether any usage was recorded: the token counts above are what it recorded."""

    async def admit(self, reservation: str) -> Admission | None:
        """Count the request on rpm and concurrency limits (429 when reached), and read
        where the token limits stand (for the headers)."""
        if not any(s.limits.rpm or s.limits.max_concurrent or s.limits.tpm for s in self.subjects):
            return None  # a budget alone is met when tokens are reserved
        return await self.governor.limits.admit(self.subjects, reservation)

    async def start(
        self,
        model: ChatModel,
        params: GenerationParams,
        reservation: str | None = None,
        *,
        extra_output: int = 0,
    ) -> Generation:
        """Reserve, start and wrap a generation; 429 before it starts when a token limit
        or a hard budget has no room for it. ``reservation``: a stable id (a background
        response's attempt), else a new one. ``extra_output``: output tokens an earlier,
        interrupted attempt produced, which the answer's usage includes."""
        reservation = reservation or "gen_" + secrets.token_hex(12)
        held = False
        if _spends_tokens(self.subjects):
            need = await model.reservation_tokens(params)
            hold = await self.governor.limits.reserve(self.subjects, reservation, need)
            held = True
            if hold.warning:
                self.warnings.append(hold.warning)
        try:
            generation = await model.start(params)
        except BaseException:
            if held:
                await _shielded(self.governor.limits.settle(reservation, 0))
            raise
        return MeteredGeneration(
            generation, self, model.id, reservation if held else None, extra_output
        )

    async def hold(self, reservation: str, tokens: int) -> None:
        """Reserve ``tokens`` for work that settles later (a training job); 429 when a
        token limit or hard budget has no room."""
        if _spends_tokens(self.subjects):
            hold = await self.governor.limits.reserve(self.subjects, reservation, tokens)
            if hold.warning:
                self.warnings.append(hold.warning)

    async def abandon(self, reservation: str) -> None:
        """A reservation whose process died settles to nothing (its takeover pays)."""
        await _shielded(self.governor.limits.settle(reservation, 0))

    async def settle(
        self, model_id: str, reservation: str | None, prompt: int, output: int
    ) -> None:
        """The generation used ``prompt`` and ``output`` tokens."""
        spend = Spend(
            self.project_id,
            self.api_key_id,
            model_id,
            "completions",
            model_requests=1,
            input_tokens=prompt,
            output_tokens=output,
        )
        await self.record(spend, reservation)

    async def record(self, spend: Spend, reservation: str | None = None) -> None:
        """Add ``spend`` to usage, settling ``reservation`` to its tokens in the same
        transaction."""
        self.input_tokens += spend.input_tokens
        self.output_tokens += spend.output_tokens
        self.recorded = True
        limits = self.governor.limits
        if reservation is None:
            await _shielded(self.governor.usage.add(spend, time.time()))
            return
        tokens = spend.input_tokens + spend.output_tokens + spend.trained_tokens
        await _shielded(
            limits.settle(
                reservation, tokens, also=lambda conn: add_spend(conn, spend, time.time())
            )
        )

    async def embed(self, embedder: Embedder, texts: list[str]) -> Embeddings:
        """Embed ``texts`` under the token limits (reserved at a bound: their UTF-8 bytes
        and two markers each) and record the tokens used."""
        held = None
        if _spends_tokens(self.subjects):
            need = sum(len(text.encode()) + 2 for text in texts)
            reservation = "emb_" + secrets.token_hex(12)
            hold = await self.governor.limits.reserve(self.subjects, reservation, need)
            held = hold.reservation
            if hold.warning:
                self.warnings.append(hold.warning)
        return await self._embed_held(embedder, texts, held)

    async def embed_accepted(self, embedder: Embedder, texts: list[str]) -> Embeddings:
        """Embed ``texts`` for work already accepted (a batch of an ingestion job), whose
        size no limit refuses: it waits while a token limit of the key or project has no
        room, raises ``BudgetExceeded`` when a hard budget is spent, and records the
        tokens used. Only one token is reserved ahead (the room a limit must have), so
        one batch may pass a limit by its own tokens."""
        held = None
        if _spends_tokens(self.subjects):
            held = "job_" + secrets.token_hex(12)
            while True:
                try:
                    await self.governor.limits.reserve(self.subjects, held, 1)
                    break
                except LimitExceeded as exc:  # a hard budget's refusal is not one: it raises
                    await anyio.sleep(float(exc.headers.get("Retry-After", "1")))
        return await self._embed_held(embedder, texts, held)

    async def _embed_held(
        self, embedder: Embedder, texts: list[str], held: str | None
    ) -> Embeddings:
        """Embed under the reservation ``held`` (None: nothing limited), which settles to
        the tokens embedded, recorded as embeddings usage; to nothing if it fails."""
        try:
            result = await embedder.embed(texts)
        except BaseException:
            if held is not None:
                await _shielded(self.governor.limits.settle(held, 0))
            raise
        spend = Spend(
            self.project_id,
            self.api_key_id,
            embedder.id,
            "embeddings",
            model_requests=1,
            input_tokens=result.prompt_tokens,
        )
        await self.record(spend, held)
        return result


async def _shielded(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` to its end even when the request is being cancelled meanwhile (a
    client that left): what was spent is recorded whatever happens to the request."""
    with anyio.CancelScope(shield=True):
        await work


class MeteredGeneration:
    """A generation that settles its reservation and records its usage once, at its end."""

    def __init__(
        self,
        inner: Generation,
        meter: Meter,
        model_id: str,
        reservation: str | None,
        extra_output: int = 0,
    ) -> None:
        self._extra_output = extra_output
        self._inner = inner
        self._meter = meter
        self._model_id = model_id
        self._reservation = reservation
        self._settled = False

    @property
    def prompt_tokens(self) -> int:
        return self._inner.prompt_tokens

    @property
    def completion_tokens(self) -> int:
        return self._inner.completion_tokens

    async def __aiter__(self) -> AsyncIterator[GenerationEvent]:
        try:
            async for event in self._inner:
                if isinstance(event, Finish):
                    await self._settle(event.prompt_tokens, event.completion_tokens)
                yield event
        except Exception:  # failed midway: it cost what it used so far
            await self._settle(self._inner.prompt_tokens, self._inner.completion_tokens)
            raise

    async def _settle(self, prompt: int, output: int) -> None:
        if self._settled:
            return
        self._settled = True
        output += self._extra_output
        await self._meter.settle(self._model_id, self._reservation, prompt, output)

    async def aclose(self) -> None:
        """Stop the generation; what it used so far is what it costs."""
        try:
            await self._inner.aclose()
        finally:
            await self._settle(self._inner.prompt_tokens, self._inner.completion_tokens)
