"""``workhorse eval run``: the bundled model run twice over a small file ends in two
completed runs and a table of pass rates by criterion; an unknown eval fails naming it."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.servers import WORKHORSE, Server, run_workhorse
from workhorse.cli.evals import disagreements, labels

MODEL = "smollm2-135m-instruct"
CRITERION = "says the answer"
ITEMS = [
    {"question": "What is 2+2?", "answer": "4"},
    {"question": "What colour is the sky on a clear day?", "answer": "blue"},
    {"question": "What is the capital of France?", "answer": "Paris"},
]
RUN_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server in the embedded mode (SQLite, eval runs on its own threads)."""
    with run_workhorse(tmp_path_factory.mktemp("eval-cli")) as running:
        yield running


def evaluate(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    """``workhorse eval run ARGS`` against ``server``, its key read from the data dir."""
    return subprocess.run(
        [str(WORKHORSE), "eval", "run", *args, "--url", server.base_url],
        env={**server.env, "COLUMNS": "160"},  # room for the tables' headings on one line
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def api(server: Server, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    response = httpx.request(
        method, server.v1 + path, headers=server.headers(), timeout=60, **kwargs
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def questions_file(server: Server) -> str:
    lines = "".join(json.dumps({"item": item}) + "\n" for item in ITEMS)
    files = {"file": ("questions.jsonl", lines.encode(), "application/jsonl")}
    return str(api(server, "POST", "/files", data={"purpose": "evals"}, files=files)["id"])


def answers_eval(server: Server) -> str:
    schema = {
        "type": "object",
        "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
        "required": ["question", "answer"],
    }
    body = {
        "name": "arithmetic and trivia",
        "data_source_config": {
            "type": "custom",
            "item_schema": schema,
            "include_sample_schema": True,
        },
        "testing_criteria": [
            {
                "type": "string_check",
                "name": CRITERION,
                "input": "{{sample.output_text}}",
                "reference": "{{item.answer}}",
                "operation": "ilike",
            }
        ],
    }
    return str(api(server, "POST", "/evals", json=body)["id"])


@pytest.mark.slow
def test_two_runs_of_the_bundled_model_complete_with_pass_rates(embedded: Server) -> None:
    assert MODEL in [m["id"] for m in api(embedded, "GET", "/models")["data"]]
    file_id, eval_id = questions_file(embedded), answers_eval(embedded)
    result = evaluate(
        embedded, eval_id, "--model", MODEL, "--model", MODEL, "--file", file_id,
        "--prompt", "{{item.question}}", "--system", "Answer in one word.",
        "--seed", "1", "--max-tokens", "16",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    runs = api(embedded, "GET", f"/evals/{eval_id}/runs")["data"]
    assert [(r["model"], r["status"]) for r in runs] == [(MODEL, "completed")] * 2
    assert all(r["result_counts"]["total"] == len(ITEMS) for r in runs)
    assert CRITERION in result.stdout
    assert f"{MODEL} #1" in result.stdout
    assert f"{MODEL} #2" in result.stdout
    assert re.search(r"\d+\.\d% \(\d/3\)", result.stdout), result.stdout
    assert result.stderr.count("3/3") == 2  # each progress bar reached the last item


@pytest.mark.slow
def test_ctrl_c_cancels_the_runs_it_started(embedded: Server) -> None:
    file_id, eval_id = questions_file(embedded), answers_eval(embedded)
    # Long answers: the runs must still be going when the interrupt arrives.
    args = ["--model", MODEL, "--model", MODEL, "--file", file_id, "--max-tokens", "400"]
    prompt = "Write a long story about this question: {{item.question}}"
    command = [str(WORKHORSE), "eval", "run", eval_id, *args, "--prompt", prompt]
    process = subprocess.Popen(
        [*command, "--url", embedded.base_url],
        env=embedded.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    try:
        # Interrupted once it has said both runs started, so it knows both ids.
        started = 0
        while started < 2:
            line = process.stderr.readline()
            assert line, "the command ended before starting both runs"
            started += line.startswith("started run")
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, rest
    assert rest.count("cancelled run") == 2, rest
    statuses = [r["status"] for r in api(embedded, "GET", f"/evals/{eval_id}/runs")["data"]]
    assert statuses == ["canceled", "canceled"]


def test_an_unknown_eval_fails_naming_it(embedded: Server) -> None:
    result = evaluate(embedded, "eval_nosuchthing", "--model", MODEL, "--file", "file-x")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "eval_nosuchthing" in result.stderr
    assert "404" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_names_every_option() -> None:
    result = subprocess.run(
        [str(WORKHORSE), "eval", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"COLUMNS": "200", "PATH": ""},
    )
    assert result.returncode == 0, result.stderr
    for option in ("--model", "--file", "--prompt", "--system", "--file-search", "--seed"):
        assert option in result.stdout
    assert "WORKHORSE_EVAL_MODEL" in result.stdout


def test_models_disagree_where_one_passed_and_another_did_not() -> None:
    def item(status: str) -> dict[str, Any]:
        return {"status": status}

    by_run = [
        {0: item("pass"), 1: item("pass"), 2: item("fail"), 3: item("fail")},
        {0: item("pass"), 1: item("error"), 2: item("fail"), 3: item("error")},
    ]
    assert disagreements(by_run) == [1]
    assert labels(["a", "b", "a"]) == ["a #1", "b", "a #2"]
