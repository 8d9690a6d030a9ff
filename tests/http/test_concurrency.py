"""Inference never blocks the event loop; a full model queue answers 429 with Retry-After."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import Server, run_workhorse

MODEL = "smollm2-135m-instruct"
LONG = {
    "model": MODEL,
    "messages": [{"role": "user", "content": "Write a very long essay about mountains."}],
    "max_tokens": 400,
    "temperature": 1.0,
}


@pytest.fixture(scope="module")
def busy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose model admits one generation and no waiting line."""
    tmp: Path = tmp_path_factory.mktemp("busy")
    with run_workhorse(tmp, WORKHORSE_GENERATION_QUEUE_SIZE="0") as server:
        yield server


def _generate_in_background(server: Server) -> tuple[threading.Thread, threading.Event]:
    started = threading.Event()

    def run() -> None:
        with httpx.stream(
            "POST",
            server.v1 + "/chat/completions",
            headers=server.headers(),
            json={**LONG, "stream": True},
            timeout=120,
        ) as response:
            for _ in response.iter_lines():
                started.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(60), "the long generation did not start"
    return thread, started


def test_healthz_stays_fast_during_generation(busy_server: Server) -> None:
    thread, _ = _generate_in_background(busy_server)
    latencies = []
    with httpx.Client() as client:
        while thread.is_alive() and len(latencies) < 40:
            t0 = time.perf_counter()
            assert client.get(busy_server.base_url + "/healthz").status_code == 200
            latencies.append(time.perf_counter() - t0)
            time.sleep(0.02)
    thread.join(120)
    assert len(latencies) >= 10
    assert statistics.median(latencies) < 0.05, latencies


def test_full_queue_is_429_with_retry_after(busy_server: Server) -> None:
    thread, _ = _generate_in_background(busy_server)
    response = httpx.post(
        busy_server.v1 + "/chat/completions", headers=busy_server.headers(), json=LONG
    )
    thread.join(120)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["type"] == "rate_limit_error"
