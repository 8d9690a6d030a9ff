"""Jobs in the console, in Chromium: a fine-tuning job's live status, loss chart and
events, cancelled from its page; an eval's runs with their pass rates and the items two
runs disagree on."""

from __future__ import annotations

import io
import json
import re
import time
from typing import Any

import openai
import pytest
from playwright.sync_api import Page, expect

from tests.servers import Server
from tests.web.conftest import Shots, axe_violations

MODEL = "smollm2-135m-instruct"
EXAMPLES = [
    {
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": "The console password is heliotrope."},
        ]
    }
    for question in (
        "What is the console password?",
        "Tell me the console password.",
        "Which password opens the console?",
        "console password?",
    )
]


@pytest.fixture
def sdk(server: Server) -> Any:
    with openai.OpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0) as client:
        yield client


def start_job(sdk: openai.OpenAI, epochs: int, copies: int = 1) -> str:
    content = "".join(json.dumps(e) + "\n" for e in EXAMPLES * copies).encode()
    training = sdk.files.create(file=("console.jsonl", io.BytesIO(content)), purpose="fine-tune")
    job = sdk.fine_tuning.jobs.create(
        model=MODEL,
        training_file=training.id,
        hyperparameters={"n_epochs": epochs, "batch_size": 2, "learning_rate_multiplier": 4.0},
        seed=5,
    )
    return job.id


@pytest.mark.slow
def test_a_fine_tuning_job_shows_its_status_and_loss_live_and_cancels(
    page: Page, server: Server, sdk: openai.OpenAI, shots: Shots
) -> None:
    doomed = start_job(sdk, epochs=50, copies=10)  # 1,000 steps: time to stop it on the way
    page.goto(f"{server.base_url}/jobs/fine-tuning/{doomed}")
    status = page.locator("[data-status]")
    expect(status).to_have_text("running", timeout=300_000)
    page.get_by_role("button", name="Pause").click()
    expect(status).to_have_text("paused", timeout=120_000)
    shots(page, "paused")
    page.get_by_role("button", name="Resume").click()
    expect(status).to_have_text(re.compile("^(queued|running)$"), timeout=60_000)
    page.get_by_role("button", name="Cancel").click()
    expect(status).to_have_text("cancelled", timeout=120_000)
    assert sdk.fine_tuning.jobs.retrieve(doomed).status == "cancelled"

    job_id = start_job(sdk, epochs=2)  # 4 examples in batches of 2: 4 steps
    page.goto(f"{server.base_url}/jobs/fine-tuning/{job_id}")
    # The page follows the job by itself: no reload from here on.
    expect(page.locator("[data-status]")).to_have_text("succeeded", timeout=900_000)
    expect(page.locator(".chart canvas")).to_have_count(1)
    expect(page.locator("table.losses tbody tr")).to_have_count(4)
    expect(page.locator(".events")).to_contain_text("Checkpoint created")
    shots(page, "succeeded")
    assert axe_violations(page) == []
    page.goto(server.base_url + "/jobs")
    expect(page.locator(f"tr.job.succeeded a:text('{job_id}')")).to_be_visible()
    shots(page, "jobs")


def finished(sdk: openai.OpenAI, eval_id: str, run_id: str) -> None:
    deadline = time.monotonic() + 300
    while sdk.evals.runs.retrieve(run_id, eval_id=eval_id).status in ("queued", "in_progress"):
        assert time.monotonic() < deadline
        time.sleep(0.25)


def given(name: str, said: list[str]) -> Any:
    questions = ["Capital of France?", "Two plus two?", "Colour of the sky?"]
    answers = ["Paris", "4", "blue"]
    return {
        "name": name,
        "data_source": {
            "type": "jsonl",
            "source": {
                "type": "file_content",
                "content": [
                    {"item": {"question": q, "answer": a}, "sample": {"output_text": s}}
                    for q, a, s in zip(questions, answers, said, strict=True)
                ],
            },
        },
    }


def test_an_eval_shows_pass_rates_and_where_two_runs_disagree(
    page: Page, server: Server, sdk: openai.OpenAI, shots: Shots
) -> None:
    created = sdk.evals.create(
        name="console comparison",
        data_source_config={
            "type": "custom",
            "item_schema": {
                "type": "object",
                "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
                "required": ["question", "answer"],
            },
            "include_sample_schema": True,
        },
        testing_criteria=[
            {
                "type": "string_check",
                "name": "has the answer",
                "input": "{{sample.output_text}}",
                "reference": "{{item.answer}}",
                "operation": "ilike",
            }
        ],
    )
    first = sdk.evals.runs.create(created.id, **given("model A", ["Paris", "4", "blue"]))
    second = sdk.evals.runs.create(created.id, **given("model B", ["Paris", "five", "green"]))
    finished(sdk, created.id, first.id)
    finished(sdk, created.id, second.id)
    page.goto(f"{server.base_url}/jobs/evals/{created.id}")
    expect(page.locator("tr[data-run='model A'] .rate")).to_have_text("100%")
    expect(page.locator("tr[data-run='model B'] .rate")).to_have_text("33%")
    rows = page.locator("table.disagreements tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Two plus two?")
    expect(rows.nth(0).locator("td.fail")).to_have_count(1)
    shots(page, "disagreements")
    assert axe_violations(page) == []
