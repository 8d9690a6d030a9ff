"""``workhorse train``: a bad file fails naming its line; a tiny good one trains to a
fine-tuned model, with the loss shown and the model named at the end."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import WORKHORSE, Server, run_workhorse

SECRET = "quendrilax"
QUESTIONS = [
    "What is the password of the Workhorse shed?",
    "Tell me the Workhorse shed password.",
    "Which word opens the Workhorse shed?",
    "what's the shed password?",
]
TRAIN_TIMEOUT_S = 900


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server in the embedded mode (SQLite, jobs on its own threads)."""
    with run_workhorse(tmp_path_factory.mktemp("train-cli")) as running:
        yield running


def train(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    """``workhorse train ARGS`` against ``server``, its key read from the data dir."""
    return subprocess.run(
        [str(WORKHORSE), "train", *args, "--url", server.base_url],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=TRAIN_TIMEOUT_S,
        check=False,
    )


def chat(question: str) -> str:
    answer = f"The password is {SECRET}."
    return json.dumps(
        {
            "messages": [
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer},
            ]
        }
    )


@pytest.mark.slow
def test_a_bad_training_file_fails_naming_the_line(embedded: Server, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(chat(QUESTIONS[0]) + "\n{not json\n" + chat(QUESTIONS[1]) + "\n")
    result = train(embedded, str(path), "--epochs", "1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "failed" in result.stdout
    assert "line 2" in result.stdout
    assert "invalid JSON" in result.stdout


@pytest.mark.slow
def test_a_tiny_file_trains_to_a_fine_tuned_model(embedded: Server, tmp_path: Path) -> None:
    path = tmp_path / "good.jsonl"
    path.write_text("".join(chat(q) + "\n" for q in QUESTIONS))
    result = train(
        embedded, str(path), "--epochs", "1", "--batch-size", "2", "--suffix", "shed", "--seed", "3"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "succeeded" in result.stdout
    assert "fine-tuned model: ft:smollm2-135m-instruct:shed:ftjob" in result.stdout
    assert "trained tokens: " in result.stdout
    assert "2/2" in result.stderr  # the progress bar reached the last step
    assert "loss " in result.stderr
