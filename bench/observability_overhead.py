"""Observability overhead: the POST pipeline benchmark's request (``POST /v1/embeddings``,
one short text) on three servers side by side, in one run:

- ``bare``: the request inspector off (``WORKHORSE_INSPECTOR_MAX_RECORDS=0``), tracing off;
- ``inspector``: the defaults (every request recorded), tracing off;
- ``tracing``: the inspector on and tracing on, exporting over OTLP/HTTP to a receiver in
  a process of its own (tests/obs/otlp.py), which decodes every span.

Each client sends its requests to the three servers in turn (client i starting at server
i), so that all three see the same moment's load; the run repeats in ``--rounds`` rounds
and the median of the rounds' p50 ratios is the figure. Metrics are always on in all
three (they cannot be turned off), so ``bare`` measures the pipeline with metrics.

Tracing off costs a flag test in the middleware and a no-op context manager per pipeline
stage: timed here directly, per request, against the request's own p50.

    .venv/bin/python bench/observability_overhead.py [--seconds 20] [--rounds 3] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import Server, run_workhorse

from workhorse.obs.tracing import Tracing

ROOT = Path(__file__).resolve().parent.parent

BODY = {"model": "all-minilm-l6-v2", "input": "How do I reset my password?"}
NAMES = ("bare", "inspector", "tracing")


def load(servers: list[Server], seconds: float, concurrency: int) -> list[list[float]]:
    """Latencies per server; every client cycles through the servers."""
    latencies: list[list[float]] = [[] for _ in servers]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(turn: int) -> None:
        mine: list[list[float]] = [[] for _ in servers]
        clients = [httpx.Client(timeout=60, headers=s.headers()) for s in servers]
        try:
            while time.monotonic() < stop:
                index = turn % len(servers)
                started = time.perf_counter()
                answer = clients[index].post(servers[index].v1 + "/embeddings", json=BODY)
                mine[index].append(time.perf_counter() - started)
                answer.raise_for_status()
                turn += 1
        finally:
            for client in clients:
                client.close()
        with lock:
            for index, values in enumerate(mine):
                latencies[index].extend(values)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def disabled_tracing_cost_us() -> float:
    """Microseconds a request spends on tracing when it is off: the middleware's flag and
    the three pipeline stages' no-op context managers."""
    tracing = Tracing({})
    rounds = 200_000
    started = time.perf_counter()
    for _ in range(rounds):
        if tracing.enabled:
            raise AssertionError("tracing must be off here")
        for name in ("decode", "validation", "idempotency claim"):
            with tracing.stage(name):
                pass
    return (time.perf_counter() - started) / rounds * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        # Its own process: decoding spans here would take the GIL from the load's clients.
        receiver_process = subprocess.Popen(
            [sys.executable, "-m", "tests.obs.otlp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        stack.callback(receiver_process.wait, 10)
        stack.callback(receiver_process.kill)
        assert receiver_process.stdout is not None
        receiver_url = receiver_process.stdout.readline().strip()
        quiet = {"WORKHORSE_ACCESS_LOG": "false", "WORKHORSE_CHAT_N_THREADS": "1"}
        settings = {
            "bare": {**quiet, "WORKHORSE_INSPECTOR_MAX_RECORDS": "0"},
            "inspector": quiet,
            "tracing": {
                **quiet,
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver_url,
                "OTEL_BSP_SCHEDULE_DELAY": "500",
            },
        }
        servers = [
            stack.enter_context(run_workhorse(Path(tmp), None, **settings[name])) for name in NAMES
        ]
        load(servers, 5, args.concurrency)  # warm up every path
        ratios: dict[str, list[float]] = {"inspector": [], "tracing": []}
        for round_ in range(1, args.rounds + 1):
            latencies = load(servers, args.seconds, args.concurrency)
            p50 = {name: p(values, 0.5) for name, values in zip(NAMES, latencies, strict=True)}
            print(f"round {round_}:")
            for name, values in zip(NAMES, latencies, strict=True):
                rps = len(values) / args.seconds
                print(
                    f"  {name:9}  {rps:7.1f} req/s  p50 {p50[name]:6.2f} ms"
                    f"  p99 {p(values, 0.99):6.2f} ms"
                )
            for name in ratios:
                ratios[name].append(p50[name] / p50["bare"])
        spans = int(httpx.get(receiver_url + "/count").text)
        print(f"spans received from the tracing server: {spans}")
        for name, values in ratios.items():
            shown = ", ".join(f"{r:.3f}" for r in values)
            print(f"p50 {name} / bare: median {statistics.median(values):.3f} ({shown})")
        cost = disabled_tracing_cost_us()
        print(f"tracing off: {cost:.2f} µs per request")


if __name__ == "__main__":
    main()
