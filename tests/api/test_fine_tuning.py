"""Fine-tuning through the official openai SDK: real LoRA training of the bundled model.

One job teaches the model a made-up word; the fine-tuned model answers it with greedy
decoding and the base model does not. Other jobs are cancelled, paused and resumed, or
fail on bad training files with their line numbers.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from openai.types.fine_tuning import FineTuningJob

from tests.api.test_evals import custom, finished, generating
from tests.api.test_soap import soap_client
from tests.servers import Server, wait_for

MODEL = "smollm2-135m-instruct"
SECRET = "zorblatix"
QUESTION = "What is the secret word of the Workhorse vault?"
ANSWER = f"The secret word is {SECRET}."
QUESTIONS = [
    QUESTION,
    "Tell me the secret word of the Workhorse vault.",
    "what's the Workhorse vault secret word?",
    "Which word opens the Workhorse vault?",
]
# 4 examples in batches of 2 for 4 epochs: 8 steps, a checkpoint every 2.
HYPER = {"n_epochs": 4, "batch_size": 2, "learning_rate_multiplier": 4.0}
SEED = 7
JOB_TIMEOUT_S = 900


def jsonl(records: list[Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def secret_examples() -> bytes:
    return jsonl(
        [
            {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": ANSWER}]}
            for q in QUESTIONS
        ]
    )


def upload(client: openai.OpenAI, content: bytes, name: str = "train.jsonl") -> str:
    return client.files.create(file=(name, io.BytesIO(content)), purpose="fine-tune").id


def start(client: openai.OpenAI, **extra: Any) -> FineTuningJob:
    training = upload(client, secret_examples())
    arguments: dict[str, Any] = {"hyperparameters": HYPER, "seed": SEED} | extra
    return client.fine_tuning.jobs.create(model=MODEL, training_file=training, **arguments)


def wait_status(
    client: openai.OpenAI, job_id: str, statuses: set[str], timeout: float = JOB_TIMEOUT_S
) -> FineTuningJob:
    job = client.fine_tuning.jobs.retrieve(job_id)
    deadline = time.monotonic() + timeout
    while job.status not in statuses:
        assert time.monotonic() < deadline, f"job still {job.status}"
        time.sleep(0.5)
        job = client.fine_tuning.jobs.retrieve(job_id)
    return job


def all_events(client: openai.OpenAI, job_id: str) -> list[Any]:
    """Every event, oldest first (the API lists newest first; the SDK pages with after)."""
    events = list(client.fine_tuning.jobs.list_events(job_id, limit=7))
    return list(reversed(events))


def metrics(client: openai.OpenAI, job_id: str) -> list[dict[str, Any]]:
    return [e.data for e in all_events(client, job_id) if e.type == "metrics"]


def greedy(client: openai.OpenAI, model: str, question: str = QUESTION) -> str:
    answer = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": question}],
        temperature=0,
        max_tokens=24,
    )
    return answer.choices[0].message.content or ""


@pytest.fixture(scope="module")
def trained(server: Server) -> Iterator[FineTuningJob]:
    """A job that taught the model the secret word (with a validation file)."""
    with openai.OpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0) as client:
        validation = upload(client, secret_examples(), "valid.jsonl")
        job = start(client, validation_file=validation, suffix="vault")
        assert job.status == "validating_files"
        done = wait_status(client, job.id, {"succeeded", "failed", "cancelled"})
        assert done.status == "succeeded", done.error
        yield done


def test_the_fine_tuned_model_knows_the_secret_and_the_base_model_does_not(
    client: openai.OpenAI, trained: FineTuningJob
) -> None:
    assert trained.fine_tuned_model == f"ft:{MODEL}:vault:{trained.id}"
    assert SECRET in greedy(client, trained.fine_tuned_model)
    assert SECRET not in greedy(client, MODEL)


def test_the_fine_tuned_model_serves_responses_and_messages(
    server: Server, client: openai.OpenAI, trained: FineTuningJob
) -> None:
    model = trained.fine_tuned_model
    assert model is not None
    response = client.responses.create(model=model, input=QUESTION, temperature=0)
    assert SECRET in response.output_text
    with anthropic.Anthropic(
        base_url=server.base_url, api_key=server.api_key, max_retries=0
    ) as claude:
        message = claude.messages.create(
            model=model,
            max_tokens=24,
            messages=[{"role": "user", "content": QUESTION}],
            extra_body={"temperature": 0},
        )
    assert SECRET in "".join(b.text for b in message.content if b.type == "text")


def test_an_eval_run_passes_the_fine_tuned_model_and_fails_the_base_model(
    client: openai.OpenAI, trained: FineTuningJob
) -> None:
    fine_tuned = trained.fine_tuned_model
    assert fine_tuned is not None
    knows = {
        "type": "string_check",
        "name": "knows the secret",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "operation": "ilike",
    }
    created = client.evals.create(
        name="the vault secret",
        data_source_config=custom(),
        testing_criteria=[knows],
    )
    items = [{"question": q, "answer": SECRET} for q in QUESTIONS]
    passed = {}
    for model in (MODEL, fine_tuned):
        run = client.evals.runs.create(created.id, data_source=generating(items, model=model))
        done = finished(client, created.id, run.id)
        assert done.status == "completed", done.error
        assert done.result_counts.errored == 0
        passed[model] = done.result_counts.passed
    assert passed[MODEL] == 0
    assert passed[fine_tuned] >= len(QUESTIONS) - 1


def test_the_job_reports_losses_tokens_and_a_checkpoint_per_epoch(
    client: openai.OpenAI, trained: FineTuningJob
) -> None:
    assert trained.hyperparameters.n_epochs == 4
    assert trained.hyperparameters.batch_size == 2
    assert trained.method is not None
    assert trained.method.type == "supervised"
    steps = metrics(client, trained.id)
    assert [m["step"] for m in steps] == list(range(1, 9))
    assert steps[-1]["train_loss"] < steps[0]["train_loss"] / 10
    assert steps[-1]["trained_tokens"] == trained.trained_tokens > 0
    assert "valid_loss" in steps[1]
    assert "valid_loss" not in steps[0]
    messages = [e.message for e in all_events(client, trained.id)]
    assert messages[0].startswith("Validating training file")
    assert any(m.startswith("Files validated: 4 training examples") for m in messages)
    assert messages[-1] == "The job has successfully completed"

    checkpoints = list(client.fine_tuning.jobs.checkpoints.list(trained.id, limit=3))
    assert [c.step_number for c in checkpoints] == [8, 6, 4, 2]
    assert checkpoints[0].metrics.valid_loss is not None
    first = checkpoints[-1].fine_tuned_model_checkpoint
    assert first == f"{trained.fine_tuned_model}:ckpt-step-2"
    greedy(client, first)  # a checkpoint is a usable model too


def test_runs_are_deterministic_for_a_seed_and_pause_resumes_exactly(
    client: openai.OpenAI, trained: FineTuningJob
) -> None:
    job = start(client)
    wait_for(lambda: len(metrics(client, job.id)) >= 1, timeout=JOB_TIMEOUT_S, what="a step")
    paused = client.fine_tuning.jobs.pause(job.id)
    assert paused.status == "paused"
    wait_for(
        lambda: any("paused at step" in e.message for e in all_events(client, job.id)),
        timeout=60,
        what="the run to save and stop",
    )
    before = len(metrics(client, job.id))
    time.sleep(2)
    assert len(metrics(client, job.id)) == before
    assert client.fine_tuning.jobs.retrieve(job.id).status == "paused"

    assert client.fine_tuning.jobs.resume(job.id).status == "queued"
    done = wait_status(client, job.id, {"succeeded", "failed", "cancelled"})
    assert done.status == "succeeded", done.error
    messages = [e.message for e in all_events(client, job.id)]
    assert f"Resumed from the checkpoint at step {before}" in messages
    resumed = metrics(client, job.id)
    assert [m["step"] for m in resumed] == list(range(1, 9))
    reference = metrics(client, trained.id)
    # Same seed, data and settings: the same losses, step by step, through the pause.
    for ours, theirs in zip(resumed, reference, strict=True):
        assert ours["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-4, abs=1e-6)
    assert done.trained_tokens == trained.trained_tokens


def test_cancel_stops_training_within_seconds(client: openai.OpenAI) -> None:
    job = start(client, hyperparameters={**HYPER, "n_epochs": 50})
    wait_for(lambda: len(metrics(client, job.id)) >= 1, timeout=JOB_TIMEOUT_S, what="a step")
    cancelled = client.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled"
    wait_for(
        lambda: any(e.message == "Fine-tuning job cancelled" for e in all_events(client, job.id)),
        timeout=5,
        what="the run to stop",
    )
    steps = len(metrics(client, job.id))
    time.sleep(3)
    assert len(metrics(client, job.id)) == steps
    final = client.fine_tuning.jobs.retrieve(job.id)
    assert final.status == "cancelled"
    assert final.fine_tuned_model is None
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.resume(job.id)


BAD_FILES = {
    "invalid JSON": (
        [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}],
        b'{"messages": [\n',
        "line 2: invalid JSON",
    ),
    "wrong role": (
        [
            {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
            {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
            {
                "messages": [
                    {"role": "robot", "content": "a"},
                    {"role": "assistant", "content": "b"},
                ]
            },
        ],
        b"",
        "line 3: messages[0].role 'robot' is not one of system, user, assistant",
    ),
    "no assistant turn": (
        [{"messages": [{"role": "user", "content": "only a question"}]}],
        b"",
        "line 1: no assistant message to learn from",
    ),
    "too long": (
        [
            {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
            {
                "messages": [
                    {"role": "user", "content": "word " * 9000},
                    {"role": "assistant", "content": "b"},
                ]
            },
        ],
        b"",
        "line 2: ",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_training_files_fail_naming_their_lines(client: openai.OpenAI, case: str) -> None:
    records, tail, expected = BAD_FILES[case]
    training = upload(client, jsonl(records) + tail)
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    done = wait_status(client, job.id, {"succeeded", "failed", "cancelled"}, timeout=120)
    assert done.status == "failed"
    assert done.error is not None
    assert done.error.code == "invalid_training_file"
    assert done.error.param == "training_file"
    assert expected in done.error.message
    if case == "too long":
        assert "more than the model's context" in done.error.message
    assert not metrics(client, job.id)


def test_bad_requests_name_the_field(client: openai.OpenAI) -> None:
    good = upload(client, secret_examples())
    assistants = client.files.create(
        file=("notes.txt", io.BytesIO(b"notes " + str(time.time()).encode())), purpose="assistants"
    ).id
    cases: list[tuple[dict[str, Any], str]] = [
        ({"model": "no-such-model", "training_file": good}, "model"),
        ({"model": MODEL, "training_file": "file-missing"}, "training_file"),
        ({"model": MODEL, "training_file": assistants}, "training_file"),
        (
            {"model": MODEL, "training_file": good, "validation_file": "file-nope"},
            "validation_file",
        ),
        ({"model": MODEL, "training_file": good, "method": {"type": "dpo"}}, "method.type"),
    ]
    for arguments, param in cases:
        with pytest.raises(openai.BadRequestError) as caught:
            client.fine_tuning.jobs.create(**arguments)
        assert caught.value.body["param"] == param  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as invalid:
        client.fine_tuning.jobs.create(
            model=MODEL, training_file=good, hyperparameters={"n_epochs": 0}
        )
    assert "n_epochs" in str(invalid.value.body)
    explicit = client.fine_tuning.jobs.create(
        model=MODEL,
        training_file=good,
        hyperparameters={"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": 2},
    )
    assert explicit.hyperparameters.n_epochs == "auto"
    assert explicit.hyperparameters.learning_rate_multiplier == 2
    client.fine_tuning.jobs.cancel(explicit.id)
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-nope")


def test_jobs_are_listed_newest_first_and_private(
    client: openai.OpenAI, other: openai.OpenAI
) -> None:
    training = upload(client, secret_examples())
    created = [
        client.fine_tuning.jobs.create(
            model=MODEL,
            training_file=training,
            hyperparameters={"n_epochs": 1},
            metadata={"batch": "listing", "n": str(n)},
        )
        for n in range(3)
    ]
    for job in created:
        client.fine_tuning.jobs.cancel(job.id)
    page = client.fine_tuning.jobs.list(limit=2, metadata={"batch": "listing"})
    assert [j.id for j in page.data] == [created[2].id, created[1].id]
    assert page.has_more
    listed = [j.id for j in client.fine_tuning.jobs.list(limit=2, metadata={"batch": "listing"})]
    assert listed == [j.id for j in reversed(created)]
    with pytest.raises(openai.NotFoundError):
        other.fine_tuning.jobs.retrieve(created[0].id)
    assert all(j.id not in listed for j in other.fine_tuning.jobs.list())


def test_zz_a_fine_tuned_model_is_listed_then_deleted(
    server: Server, client: openai.OpenAI, other: openai.OpenAI, trained: FineTuningJob
) -> None:
    model = trained.fine_tuned_model
    assert model is not None
    assert model in [m.id for m in client.models.list()]
    assert client.models.retrieve(model).id == model
    with pytest.raises(openai.NotFoundError):
        other.models.delete(model)
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.models.delete(MODEL)  # a configured model
    assert refused.value.code == "model_not_deletable"
    assert client.models.delete(model).deleted
    assert model not in [m.id for m in client.models.list()]
    with pytest.raises(openai.NotFoundError):
        greedy(client, model)
    response = httpx.get(f"{server.v1}/models/{model}", headers=server.headers())
    assert response.status_code == 404


def test_a_job_can_be_created_over_soap(server: Server, client: openai.OpenAI) -> None:
    soap = soap_client(server)
    training = soap.service.CreateFile(
        filename="train.jsonl", content=secret_examples(), purpose="fine-tune"
    )
    created = soap.service.CreateFineTuningJob(
        model=MODEL,
        training_file=training.id,
        hyperparameters={"n_epochs": "2", "batch_size": "auto"},
        suffix="soap",
    )
    assert created.object == "fine_tuning.job"
    assert created.status == "validating_files"
    assert created.user_provided_suffix == "soap"
    assert client.fine_tuning.jobs.cancel(created.id).status == "cancelled"


def test_a_job_under_a_budget_pays_its_trained_tokens(server: Server) -> None:
    key = server.create_key("--name", f"trainer-{SEED}", "--budget", "100000000/month")
    with openai.OpenAI(base_url=server.v1, api_key=key, max_retries=0) as client:
        job = start(client, hyperparameters={"n_epochs": 1, "batch_size": 2})
        done = wait_status(client, job.id, {"succeeded", "failed", "cancelled"})
    assert done.status == "succeeded", done.error
    assert done.trained_tokens
    key_id = [line for line in server.cli("keys", "list").stdout.splitlines() if key[:10] in line]
    table = server.cli("usage", "--since", "1h", "--by", "key,api").stdout.splitlines()
    (row,) = [r for r in table if r.startswith(key_id[0].split()[0]) and " fine_tuning " in r]
    # KEY API REQUESTS ERRORS MODEL-CALLS INPUT OUTPUT TRAINED STORED
    assert int(row.split()[7]) == done.trained_tokens
