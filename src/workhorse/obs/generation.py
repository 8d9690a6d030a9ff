"""Generations watched for their metrics: how each ended, its tokens and its timing.

Every generation of every API (chat completions, Responses, Anthropic Messages) is
started through ``watch``, which counts it once at its end: the finish reason (``stop``,
``length``, ``tool_calls``; ``cancelled`` when it was closed or abandoned before its end,
``error`` when it raised), its input and output tokens, the time to its first text, the
time per output token after it, and its whole duration.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable

from workhorse.obs.metrics import Metrics
from workhorse.providers.base import Finish, Generation, GenerationEvent, TextDelta


class WatchedGeneration:
    """A generation that reports its end to the metrics, exactly once."""

    def __init__(
        self, inner: Generation, metrics: Metrics, model: str, api: str, started: float
    ) -> None:
        self._inner = inner
        self._metrics = metrics
        self._labels = (model, api)
        self._started = started
        self._first: float | None = None
        self._ended = False
        metrics.generations.labels(model).inc()

    @property
    def prompt_tokens(self) -> int:
        return self._inner.prompt_tokens

    @property
    def completion_tokens(self) -> int:
        return self._inner.completion_tokens

    async def __aiter__(self) -> AsyncIterator[GenerationEvent]:
        reason = "cancelled"  # left before its end: closed, or the consumer went away
        try:
            async for event in self._inner:
                if isinstance(event, TextDelta) and self._first is None:
                    self._first = time.perf_counter()
                elif isinstance(event, Finish):
                    self._end(event.finish_reason, event.prompt_tokens, event.completion_tokens)
                yield event
        except Exception:
            reason = "error"
            raise
        finally:
            self._end(reason, self._inner.prompt_tokens, self._inner.completion_tokens)

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._end("cancelled", self._inner.prompt_tokens, self._inner.completion_tokens)

    def _end(self, reason: str, prompt: int, output: int) -> None:
        if self._ended:
            return
        self._ended = True
        now, (model, api), metrics = time.perf_counter(), self._labels, self._metrics
        metrics.generation_requests.labels(model, api, reason).inc()
        metrics.generation_tokens.labels(model, api, "input").inc(prompt)
        metrics.generation_tokens.labels(model, api, "output").inc(output)
        metrics.generation_duration.labels(model, api).observe(now - self._started)
        if self._first is not None:
            metrics.ttft.labels(model, api).observe(self._first - self._started)
            if output > 1:
                metrics.tpot.labels(model, api).observe((now - self._first) / (output - 1))


async def watched(
    metrics: Metrics, api: str, model: str, start: Awaitable[Generation]
) -> Generation:
    """The generation ``start`` starts, counted in ``metrics`` under ``model`` and ``api``
    from this call (its wait for the model included) to its end."""
    began = time.perf_counter()
    return WatchedGeneration(await start, metrics, model, api, began)
