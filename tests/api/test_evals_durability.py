"""An eval run survives its server: kill -9 in the middle of a run, start a server again,
and the run resumes where it stopped and completes with every item graded exactly once.

Eval runs run on servers (they need the chat models): embedded mode restarts the server
on the same data dir; scaled-out mode starts a second server on the same database and
queue.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import openai
import pytest

from tests.api.test_evals import contains_answer, custom, finished, generating, items_of
from tests.conftest import scaled_env
from tests.servers import Server, run_workhorse, wait_for

LEASE = {"WORKHORSE_EVAL_LEASE_S": "3", "WORKHORSE_EVAL_REQUEUE_AFTER_S": "6"}
ITEMS = 24


def sdk(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0)


def start_and_wait_for_some_items(server: Server) -> tuple[str, str]:
    client = sdk(server)
    created = client.evals.create(data_source_config=custom(), testing_criteria=[contains_answer()])
    items = [{"question": f"Count from {n} to {n + 20}.", "answer": str(n)} for n in range(ITEMS)]
    source = generating(items)
    source["sampling_params"]["max_completion_tokens"] = 48
    run = client.evals.runs.create(created.id, data_source=source)
    wait_for(
        lambda: len(items_of(client, created.id, run.id)) >= 3,
        timeout=300,
        what="a few graded items",
    )
    return created.id, run.id


def check_resumed(server: Server, eval_id: str, run_id: str) -> None:
    client = sdk(server)
    done = finished(client, eval_id, run_id)
    assert done.status == "completed", done.error
    counts = done.result_counts
    assert counts.total == ITEMS
    assert counts.passed + counts.failed + counts.errored == ITEMS
    assert counts.errored == 0
    graded = items_of(client, eval_id, run_id)
    assert sorted(i.datasource_item_id for i in graded) == list(range(ITEMS))
    (criterion,) = done.per_testing_criteria_results
    assert criterion.passed + criterion.failed == ITEMS
    (usage,) = done.per_model_usage
    assert usage.invocation_count == ITEMS  # the items cut short were not counted


@pytest.mark.slow
def test_kill_9_during_a_run_then_restart_grades_every_item_once(
    tmp_path: Path, storage_mode: str, request: pytest.FixtureRequest
) -> None:
    data_dir = tmp_path / "data"
    database, env = None, dict(LEASE)
    if storage_mode == "postgres":
        make: Callable[[], str] = request.getfixturevalue("new_database")
        database, env = make(), {**scaled_env(request), **LEASE}
    with run_workhorse(tmp_path, database, data_dir=data_dir, **env) as first:
        eval_id, run_id = start_and_wait_for_some_items(first)
        first.process.kill()
        first.process.wait()
    with run_workhorse(tmp_path, database, data_dir=data_dir, **env) as again:
        check_resumed(again, eval_id, run_id)
