"""A fine-tuning job survives its worker: kill -9 mid-training, restart, and it resumes
from its newest checkpoint and completes with exactly the run it would have had.

Embedded mode kills the server (its job threads die with it, and the training process
with them); scaled-out mode kills the ``workhorse worker`` process and starts another.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import openai
import pytest

from tests.api.test_fine_tuning import (
    JOB_TIMEOUT_S,
    SECRET,
    all_events,
    greedy,
    metrics,
    start,
    wait_status,
)
from tests.conftest import scaled_env
from tests.servers import Server, run_worker, run_workhorse, wait_for

LEASE = {"WORKHORSE_TRAIN_LEASE_S": "3", "WORKHORSE_TRAIN_REQUEUE_AFTER_S": "6"}


def sdk(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0)


def start_and_wait_for_a_checkpoint(server: Server) -> str:
    client = sdk(server)
    job = start(client, suffix="durable")
    wait_for(
        lambda: any(e.message.startswith("Checkpoint created") for e in all_events(client, job.id)),
        timeout=JOB_TIMEOUT_S,
        what="the first checkpoint",
    )
    return job.id


def check_resumed(server: Server, job_id: str) -> None:
    client = sdk(server)
    done = wait_status(client, job_id, {"succeeded", "failed", "cancelled"})
    assert done.status == "succeeded", done.error
    messages = [e.message for e in all_events(client, job_id)]
    resumed = [m for m in messages if m.startswith("Resumed from the checkpoint at step")]
    assert resumed, messages
    # Steps after the checkpoint may have run twice (before the kill and after the
    # resume), but the resumed run starts right after the checkpoint and ends at step 8.
    steps = [m["step"] for m in metrics(client, job_id)]
    assert steps[-1] == 8
    resumed_at = int(resumed[0].rsplit(" ", 1)[1])
    assert resumed_at >= 2
    assert steps[-(8 - resumed_at) :] == list(range(resumed_at + 1, 9))
    assert done.fine_tuned_model is not None
    assert SECRET in greedy(client, done.fine_tuned_model)


@pytest.mark.slow
def test_kill_9_during_training_then_restart_resumes_from_the_checkpoint(
    tmp_path: Path, storage_mode: str, request: pytest.FixtureRequest
) -> None:
    data_dir = tmp_path / "data"
    if storage_mode == "sqlite":
        with run_workhorse(tmp_path, None, data_dir=data_dir, **LEASE) as first:
            job_id = start_and_wait_for_a_checkpoint(first)
            first.process.kill()
            first.process.wait()
        with run_workhorse(tmp_path, None, data_dir=data_dir, **LEASE) as second:
            check_resumed(second, job_id)
        return
    make: Callable[[], str] = request.getfixturevalue("new_database")
    env = {**scaled_env(request), **LEASE, "WORKHORSE_INGEST_WORKERS": "0"}
    with run_workhorse(tmp_path, make(), data_dir=data_dir, **env) as server:
        with run_worker(server, WORKHORSE_INGEST_WORKERS="1") as worker:
            job_id = start_and_wait_for_a_checkpoint(server)
            worker.kill()
            worker.wait()
        with run_worker(server, WORKHORSE_INGEST_WORKERS="1"):
            check_resumed(server, job_id)
