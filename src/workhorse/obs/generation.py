"""Generations watched for their metrics and their span: how each ended, its tokens and
its timing.

Every generation of every API (chat completions, Responses, Anthropic Messages) is
started through ``watched``, which counts it once at its end: the finish reason (``stop``,
``length``, ``tool_calls``; ``cancelled`` when it was closed or abandoned before its end,
``error`` when it raised), its input and output tokens, the time to its first text, the
time per output token after it, and its whole duration. With tracing on, the same end
closes its ``chat {model}`` span, which carries the GenAI semantic conventions'
attributes and the first token as an event.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable

from opentelemetry.trace import Span, SpanKind, StatusCode, use_span

from workhorse.obs.metrics import Metrics
from workhorse.obs.tracing import Tracing
from workhorse.providers.base import (
    ChatModel,
    Finish,
    Generation,
    GenerationEvent,
    GenerationParams,
    TextDelta,
)


def provider_name(model: ChatModel) -> str:
    """``gen_ai.provider.name``: ``workhorse`` for the models served in-process, ``openai``
    for OpenAI-compatible upstreams."""
    return "workhorse" if model.owned_by == "workhorse" else "openai"


class WatchedGeneration:
    """A generation that reports its end to the metrics and its span, exactly once."""

    def __init__(
        self,
        inner: Generation,
        metrics: Metrics,
        model: str,
        api: str,
        started: float,
        span: Span | None,
    ) -> None:
        self._inner = inner
        self._metrics = metrics
        self._labels = (model, api)
        self._started = started
        self._span = span
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
                if isinstance(event, TextDelta):
                    if self._first is None:
                        self._first = time.perf_counter()
                        if self._span is not None:
                            self._span.add_event("gen_ai.first_token")
                elif isinstance(event, Finish):
                    self._end(event.finish_reason, event.prompt_tokens, event.completion_tokens)
                yield event
        except Exception as exc:
            reason = "error"
            if self._span is not None:
                self._span.record_exception(exc)
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
        span = self._span
        if span is not None:
            span.set_attribute("gen_ai.response.model", model)
            span.set_attribute("gen_ai.usage.input_tokens", prompt)
            span.set_attribute("gen_ai.usage.output_tokens", output)
            span.set_attribute("gen_ai.response.finish_reasons", [reason])
            if reason == "error":
                span.set_status(StatusCode.ERROR)
            span.end()


async def watched(
    metrics: Metrics,
    tracing: Tracing,
    api: str,
    model: ChatModel,
    start: Awaitable[Generation],
    params: GenerationParams | None = None,
) -> Generation:
    """The generation ``start`` starts, counted in ``metrics`` under ``model`` and ``api``
    from this call (its wait for the model included) to its end, in a span of its own."""
    began = time.perf_counter()
    span = None
    if tracing.enabled:
        span = tracing.tracer.start_span(
            f"chat {model.id}",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": provider_name(model),
                "gen_ai.request.model": model.id,
                "workhorse.api": api,
            },
        )
        if params is not None and params.max_tokens is not None:
            span.set_attribute("gen_ai.request.max_tokens", params.max_tokens)
        if tracing.capture_content and params is not None:
            span.add_event(
                "gen_ai.input.messages",
                {"content": [f"{m.role}: {m.content}" for m in params.messages]},
            )
    try:
        if span is None:
            generation = await start
        else:  # the model call's own calls (an upstream's HTTP request) are its children
            with use_span(span, end_on_exit=False, record_exception=False):
                generation = await start
    except BaseException as exc:
        if span is not None:
            span.record_exception(exc)
            span.set_status(StatusCode.ERROR)
            span.end()
        raise
    return WatchedGeneration(generation, metrics, model.id, api, began, span)
