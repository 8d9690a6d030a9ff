"""What the console's dashboard charts, over the last hour or day, in equal intervals.

Requests per second, the error rate, errors by reason and latency percentiles come from
the request records (every replica's, from the shared database); time to first token,
output tokens per second, jobs waiting and job failures from this process's metrics
history (``obs/history.py``).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from workhorse.obs.history import MetricsHistory, Sample, quantile
from workhorse.store.request_log import RequestLog

Window = Literal["hour", "day"]
WINDOWS: dict[str, int] = {"hour": 3600, "day": 86400}
INTERVALS = 60
MOST_RECORDS = 500_000


@dataclass(frozen=True)
class Series:
    """One chart: a value (or None, for no data) per interval."""

    name: str
    unit: str
    lines: dict[str, list[float | None]]


@dataclass(frozen=True)
class Dashboard:
    """The charts of one window, and the error reasons counted over it."""

    window: str
    starts: list[int]
    """The start of each interval, Unix seconds."""
    series: list[Series]
    reasons: list[tuple[str, int]]
    requests: int
    truncated: bool
    """The window held more records than were read."""


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _delta(late: Sample, early: Sample) -> list[tuple[float, float]]:
    before = dict(early.ttft_buckets)
    return [(bound, count - before.get(bound, 0.0)) for bound, count in late.ttft_buckets]


def _from_history(history: MetricsHistory, starts: list[int], width: int) -> list[Series]:
    samples = list(history.samples)
    ttft50: list[float | None] = []
    ttft99: list[float | None] = []
    tokens: list[float | None] = []
    queued: list[float | None] = []
    failed: list[float | None] = []
    for start in starts:
        inside = [s for s in samples if start <= s.at < start + width]
        earlier = [s for s in samples if s.at < start]
        first = earlier[-1] if earlier else (inside[0] if inside else None)
        last = inside[-1] if inside else None
        if first is None or last is None or last.at <= first.at:
            for line in (ttft50, ttft99, tokens, failed):
                line.append(None)
            queued.append(last.jobs_queued if last is not None else None)
            continue
        buckets = _delta(last, first)
        ttft50.append(quantile(0.5, buckets))
        ttft99.append(quantile(0.99, buckets))
        tokens.append((last.output_tokens - first.output_tokens) / (last.at - first.at))
        queued.append(last.jobs_queued)
        failed.append(last.jobs_failed - first.jobs_failed)
    return [
        Series("Time to first token", "s", {"p50": ttft50, "p99": ttft99}),
        Series("Output tokens per second", "tokens/s", {"tokens/s": tokens}),
        Series("Jobs waiting", "jobs", {"queued": queued}),
        Series("Job failures", "jobs", {"failed": failed}),
    ]


async def dashboard(log: RequestLog, history: MetricsHistory, window: str) -> Dashboard:
    """The window's charts, ending now."""
    span = WINDOWS[window]
    width = span // INTERVALS
    now = int(time.time())
    first = (now - span) // width * width + width
    starts = [first + i * width for i in range(INTERVALS)]
    rows = await log.samples(since_ms=starts[0] * 1000, limit=MOST_RECORDS)
    per: list[list[tuple[int, float, str | None]]] = [[] for _ in starts]
    reasons: Counter[str] = Counter()
    for at_ms, status, duration_ms, error_code in rows:
        index = (at_ms // 1000 - starts[0]) // width
        if 0 <= index < INTERVALS:
            per[index].append((status, duration_ms, error_code))
        if status >= 400:
            reasons[error_code or f"http_{status}"] += 1
    rate: list[float | None] = [len(p) / width for p in per]
    errors: list[float | None] = [
        100.0 * sum(1 for s, _, _ in p if s >= 400) / len(p) if p else None for p in per
    ]
    p50 = [_percentile([d / 1000 for _, d, _ in p], 0.5) for p in per]
    p99 = [_percentile([d / 1000 for _, d, _ in p], 0.99) for p in per]
    series = [
        Series("Requests per second", "req/s", {"requests/s": rate}),
        Series("Error rate", "%", {"errors": errors}),
        Series("Latency", "s", {"p50": p50, "p99": p99}),
        *_from_history(history, starts, width),
    ]
    return Dashboard(
        window,
        starts,
        series,
        reasons.most_common(),
        len(rows),
        len(rows) >= MOST_RECORDS,
    )
