"""What model instances report (``providers.base.ModelObserver``): waits and embedding
calls, into the metrics and, with tracing on, an ``embeddings {model}`` span per call."""

from __future__ import annotations

import time

from opentelemetry.trace import SpanKind

from workhorse.obs.metrics import Metrics
from workhorse.obs.tracing import Tracing


class ModelWatch:
    """The observer the model registry gives its model instances."""

    def __init__(self, metrics: Metrics, tracing: Tracing) -> None:
        self._metrics = metrics
        self._tracing = tracing

    def waited(self, model: str, seconds: float) -> None:
        self._metrics.waited(model, seconds)

    def embedded(self, model: str, inputs: int, tokens: int, seconds: float) -> None:
        self._metrics.embedded(model, inputs, tokens, seconds)
        if not self._tracing.enabled:
            return
        end = time.time_ns()
        span = self._tracing.tracer.start_span(
            f"embeddings {model}",
            kind=SpanKind.CLIENT,
            start_time=end - int(seconds * 1e9),
            attributes={
                "gen_ai.operation.name": "embeddings",
                "gen_ai.provider.name": "workhorse",
                "gen_ai.request.model": model,
                "gen_ai.response.model": model,
                "gen_ai.usage.input_tokens": tokens,
                "workhorse.inputs": inputs,
            },
        )
        span.end(end_time=end)
