"""Responses survive their process: kill -9 mid-generation, restart, and check the end.

Each test runs its own servers on one data dir and database, with a 2-second lease so
that a restarted server settles what the killed one left behind within seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.servers import Server, run_workhorse, wait_for

MODEL = "smollm2-135m-instruct"
LONG = "Write a long story about a dragon who learns to bake bread."
LEASE = {"WORKHORSE_RESPONSE_LEASE_S": "2"}


@pytest.fixture
def fresh_database(storage_mode: str, request: pytest.FixtureRequest) -> str | None:
    """An empty database of the storage mode (None: SQLite in the data dir)."""
    if storage_mode == "sqlite":
        return None
    make: Callable[[], str] = request.getfixturevalue("new_database")
    return make()


def sdk(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0)


def all_events(server: Server, response_id: str) -> list[dict[str, Any]]:
    with httpx.stream(
        "GET",
        f"{server.v1}/responses/{response_id}?stream=true",
        headers=server.headers(),
        timeout=120,
    ) as response:
        return [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]


def stored_deltas(server: Server, response_id: str) -> str:
    output = sdk(server).responses.retrieve(response_id)
    return output.output_text


def wait_ended(server: Server, response_id: str) -> str:
    client = sdk(server)
    status: list[str] = []

    def ended() -> bool:
        status[:] = [str(client.responses.retrieve(response_id).status)]
        return status[0] not in ("queued", "in_progress")

    wait_for(ended, timeout=120, what=f"response {response_id} to be settled")
    return status[0]


def kill(server: Server) -> None:
    server.process.kill()
    server.process.wait()


def test_kill_9_mid_background_generation_then_restart_completes_it(
    tmp_path: Path, fresh_database: str | None
) -> None:
    data_dir = tmp_path / "data"
    with run_workhorse(tmp_path, fresh_database, data_dir=data_dir, **LEASE) as first:
        # A key under a token limit: the dead attempt's reservation must settle to nothing.
        paying = first.create_key("--name", "paying", "--tpm", "100000")
        first = replace(first, api_key=paying)
        started = sdk(first).responses.create(
            model=MODEL, input=LONG, max_output_tokens=300, temperature=0, background=True
        )
        wait_for(
            lambda: len(stored_deltas(first, started.id)) > 20,
            timeout=120,
            what="some output to be stored",
        )
        before = sdk(first).responses.retrieve(started.id)
        kill(first)
        assert before.status == "in_progress"
        seen = before.output_text
    with run_workhorse(tmp_path, fresh_database, data_dir=data_dir, **LEASE) as second:
        second = replace(second, api_key=paying)
        assert wait_ended(second, started.id) in ("completed", "incomplete")
        events = all_events(second, started.id)
        final = sdk(second).responses.retrieve(started.id)
        spent = usage_totals(second)
        window = httpx.get(second.v1 + "/models", headers=second.headers())
    seqs = [e["sequence_number"] for e in events]
    assert seqs == list(range(len(seqs)))  # nothing lost, nothing repeated
    kinds = [e["type"] for e in events]
    assert kinds.count("response.created") == 1
    assert kinds.count("response.in_progress") == 1
    assert kinds.count("response.output_item.added") == 1
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == final.output_text
    assert final.output_text.startswith(seen)  # continued, not restarted
    assert len(final.output_text) > len(seen)
    assert final.usage is not None
    assert final.usage.output_tokens <= 300
    # What the client was told is what was recorded and what the token window holds.
    assert spent == (final.usage.input_tokens, final.usage.output_tokens)
    remaining = int(window.headers["x-ratelimit-remaining-tokens"])
    assert remaining == 100000 - final.usage.input_tokens - final.usage.output_tokens


def usage_totals(server: Server) -> tuple[int, int]:
    """Input and output tokens the Usage API reports for the last hour."""
    answer = httpx.get(
        server.v1 + "/organization/usage/completions",
        params={"start_time": int(time.time()) - 3600, "bucket_width": "1h"},
        headers={"Authorization": f"Bearer {server.admin_key}"},
    ).json()
    results = [r for bucket in answer["data"] for r in bucket["results"]]
    return sum(r["input_tokens"] for r in results), sum(r["output_tokens"] for r in results)


def test_kill_9_mid_foreground_stream_leaves_it_incomplete_after_restart(
    tmp_path: Path, fresh_database: str | None
) -> None:
    data_dir = tmp_path / "data"
    body = {"model": MODEL, "input": LONG, "max_output_tokens": 1500, "stream": True}
    with (
        run_workhorse(tmp_path, fresh_database, data_dir=data_dir, **LEASE) as first,
        httpx.stream(
            "POST", first.v1 + "/responses", json=body, headers=first.headers(), timeout=60
        ) as response,
    ):
        lines: Iterator[str] = response.iter_lines()
        created = next(json.loads(x[6:]) for x in lines if x.startswith("data: "))
        response_id = created["response"]["id"]
        deltas = 0
        for line in lines:
            if '"response.output_text.delta"' in line:
                deltas += 1
                if deltas == 5:
                    kill(first)
                    break
    with run_workhorse(tmp_path, fresh_database, data_dir=data_dir, **LEASE) as second:
        assert wait_ended(second, response_id) == "incomplete"
        final = sdk(second).responses.retrieve(response_id)
        events = all_events(second, response_id)
    assert final.incomplete_details is not None
    assert final.incomplete_details.reason == "interrupted"  # type: ignore[comparison-overlap]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["type"] == "response.incomplete"


def test_another_replica_streams_and_cancels_a_response(
    tmp_path: Path, fresh_database: str | None
) -> None:
    data_dir = tmp_path / "shared"  # SQLite mode: both processes on one database file
    with (
        run_workhorse(tmp_path, fresh_database, data_dir=data_dir) as first,
        run_workhorse(tmp_path, fresh_database, data_dir=data_dir) as second,
    ):
        started = sdk(first).responses.create(
            model=MODEL, input=LONG, max_output_tokens=60, temperature=0, background=True
        )
        events = all_events(second, started.id)  # follows from the other process, live
        assert [e["sequence_number"] for e in events] == list(range(len(events)))
        assert events[-1]["type"] in ("response.completed", "response.incomplete")
        text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
        assert text == sdk(first).responses.retrieve(started.id).output_text

        long = sdk(first).responses.create(
            model=MODEL, input=LONG, max_output_tokens=1500, background=True
        )
        wait_for(
            lambda: sdk(second).responses.retrieve(long.id).status == "in_progress",
            timeout=60,
            what="the long response to start",
        )
        assert sdk(second).responses.cancel(long.id).status == "cancelled"
        assert sdk(first).responses.retrieve(long.id).status == "cancelled"
