"""Limits and budgets of keys and projects on a real server, through the openai SDK and
raw HTTP: requests, tokens and concurrency per key and per project, hard and soft
budgets, the rate-limit headers, replays that cost nothing, streams cut short settled to
what they used, and the usage the Usage API reports equal to what the clients received."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.servers import Server

MODEL = "smollm2-135m-instruct"
HI = [{"role": "user", "content": "Say hi."}]


def admin(server: Server) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.admin_key}"}


def key_with(server: Server, project_id: str | None = None, **limits: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": f"lim-{uuid.uuid4().hex[:6]}", "limits": limits}
    if project_id is not None:
        body["project_id"] = project_id
    created = httpx.post(server.v1 + "/admin/keys", json=body, headers=admin(server))
    assert created.status_code == 200, created.text
    key: dict[str, Any] = created.json()
    return key


def bearer(key: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {key['key']}"}


@pytest.fixture
def sdk_of(server: Server) -> Iterator[Any]:
    clients: list[openai.OpenAI] = []

    def make(key: dict[str, Any]) -> openai.OpenAI:
        client = openai.OpenAI(base_url=server.v1, api_key=key["key"], max_retries=0)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_requests_per_minute_admit_exactly_the_limit_then_429_with_retry_after(
    server: Server,
) -> None:
    key = key_with(server, rpm=3)
    answers = [httpx.get(server.v1 + "/models", headers=bearer(key)) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["x-ratelimit-remaining-requests"] for a in answers[:3]] == ["2", "1", "0"]
    assert answers[0].headers["x-ratelimit-limit-requests"] == "3"
    assert answers[0].headers["ratelimit-policy"] == '"requests";q=3;w=60'
    assert answers[2].headers["ratelimit"].startswith('"requests";r=0;t=')
    refused = answers[3]
    error = refused.json()["error"]
    assert error["code"] == "rate_limit_exceeded"
    assert "3 requests per minute" in error["message"]
    # Retry-After is when the oldest request leaves the window, not a whole new minute.
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


def test_a_project_limit_holds_across_its_keys(server: Server) -> None:
    project = httpx.post(
        server.v1 + "/admin/projects",
        json={"name": "shared", "limits": {"rpm": 2}},
        headers=admin(server),
    ).json()
    first, second = key_with(server, project["id"]), key_with(server, project["id"])
    statuses = [
        httpx.get(server.v1 + "/models", headers=bearer(k)).status_code
        for k in (first, second, first)
    ]
    assert statuses == [200, 200, 429]
    refused = httpx.get(server.v1 + "/models", headers=bearer(second))
    assert f"project {project['id']}" in refused.json()["error"]["message"]


def test_tokens_are_reserved_then_settled_to_the_real_count(server: Server, sdk_of: Any) -> None:
    key = key_with(server, tpm=400)
    client = sdk_of(key)
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=HI, max_tokens=300)
    usage = raw.parse().usage
    assert usage is not None
    # While it ran it held prompt + 300; now the window holds what it used.
    after = httpx.get(server.v1 + "/models", headers=bearer(key))
    assert int(after.headers["x-ratelimit-remaining-tokens"]) == 400 - usage.total_tokens
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model=MODEL, messages=HI, max_tokens=390)
    body = refused.value.body
    assert isinstance(body, dict)
    assert body["code"] == "rate_limit_exceeded"
    assert "tokens per minute" in body["message"]


def test_a_request_larger_than_the_token_limit_says_so(server: Server, sdk_of: Any) -> None:
    client = sdk_of(key_with(server, tpm=50))
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model=MODEL, messages=HI, max_tokens=100)
    assert "Request too large" in str(refused.value)


def test_concurrent_requests_beyond_the_limit_are_refused(server: Server, sdk_of: Any) -> None:
    key = key_with(server, max_concurrent=1)
    client = sdk_of(key)
    stream = client.chat.completions.create(model=MODEL, messages=HI, max_tokens=64, stream=True)
    next(iter(stream))  # the first is running
    busy = httpx.get(server.v1 + "/models", headers=bearer(key))
    assert busy.status_code == 429
    assert "Concurrency limit" in busy.json()["error"]["message"]
    stream.close()

    def admitted() -> bool:
        return httpx.get(server.v1 + "/models", headers=bearer(key)).status_code == 200

    deadline = time.monotonic() + 10
    while not admitted():
        assert time.monotonic() < deadline, "the lease of the closed stream was not freed"


def test_a_hard_budget_refuses_what_it_cannot_cover(server: Server, sdk_of: Any) -> None:
    # with every other limit set too, far from reached: only the budget refuses
    key = key_with(
        server, budget={"tokens": 120, "period": "day"}, rpm=1000, tpm=100_000, max_concurrent=8
    )
    client = sdk_of(key)
    first = client.chat.completions.create(model=MODEL, messages=HI, max_tokens=20)
    assert first.usage is not None
    spent = first.usage.total_tokens
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model=MODEL, messages=HI, max_tokens=120 - spent)
    body = refused.value.body
    assert isinstance(body, dict)
    assert body["code"] == "budget_exceeded"
    retry_after = int(refused.value.response.headers["Retry-After"])
    assert 0 < retry_after <= 86400  # the budget renews at midnight UTC


def test_a_soft_budget_allows_and_warns(server: Server, sdk_of: Any) -> None:
    key = key_with(server, budget={"tokens": 10, "period": "month", "mode": "soft"})
    raw = sdk_of(key).chat.completions.with_raw_response.create(
        model=MODEL, messages=HI, max_tokens=5
    )
    assert raw.parse().choices
    assert "soft budget" in raw.headers["x-workhorse-budget-warning"]


def test_a_replay_costs_nothing(server: Server) -> None:
    key = key_with(server, rpm=2)
    headers = {**bearer(key), "Idempotency-Key": uuid.uuid4().hex}
    body = {"metadata": {"n": "1"}}
    first = httpx.post(server.v1 + "/conversations", json=body, headers=headers)
    again = httpx.post(server.v1 + "/conversations", json=body, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    # Only the first counted: one more request is still admitted.
    assert httpx.get(server.v1 + "/models", headers=bearer(key)).status_code == 200
    assert httpx.get(server.v1 + "/models", headers=bearer(key)).status_code == 429


def usage_of(server: Server, key_id: str, kind: str = "completions") -> dict[str, int]:
    """The Usage API's sums for one key over the last hour, through the official SDK."""
    with openai.OpenAI(
        base_url=server.v1, api_key="unused", admin_api_key=server.admin_key, max_retries=0
    ) as client:
        usage = client.admin.organization.usage
        query = usage.completions if kind == "completions" else usage.embeddings
        page = query(
            start_time=int(time.time()) - 3600,
            bucket_width="1h",
            group_by=["api_key_id"],
            api_key_ids=[key_id],
        )
    totals = {"input_tokens": 0, "output_tokens": 0, "num_model_requests": 0}
    for bucket in page.data:
        for result in bucket.results:
            assert getattr(result, "api_key_id", None) == key_id
            for name in totals:
                totals[name] += getattr(result, name, 0) or 0
    return totals


def test_usage_equals_what_the_clients_received(server: Server, sdk_of: Any) -> None:
    key = key_with(server, tpm=100_000)
    client = sdk_of(key)
    received = {"input_tokens": 0, "output_tokens": 0, "num_model_requests": 0}

    def add(prompt: int, output: int) -> None:
        received["input_tokens"] += prompt
        received["output_tokens"] += output
        received["num_model_requests"] += 1

    plain = client.chat.completions.create(model=MODEL, messages=HI, max_tokens=8)
    assert plain.usage is not None
    add(plain.usage.prompt_tokens, plain.usage.completion_tokens)
    streamed = client.chat.completions.create(
        model=MODEL, messages=HI, max_tokens=8, stream=True, stream_options={"include_usage": True}
    )
    final = [chunk.usage for chunk in streamed if chunk.usage is not None]
    add(final[0].prompt_tokens, final[0].completion_tokens)
    response = client.responses.create(model=MODEL, input="Say hi.", max_output_tokens=8)
    assert response.usage is not None
    add(response.usage.input_tokens, response.usage.output_tokens)
    replay = {"Idempotency-Key": uuid.uuid4().hex}
    once = client.chat.completions.create(
        model=MODEL, messages=HI, max_tokens=4, extra_headers=replay
    )
    twice = client.chat.completions.create(
        model=MODEL, messages=HI, max_tokens=4, extra_headers=replay
    )
    assert once.id == twice.id
    assert once.usage is not None
    add(once.usage.prompt_tokens, once.usage.completion_tokens)  # counted once
    background = client.responses.create(
        model=MODEL, input="Say hi.", max_output_tokens=8, background=True
    )
    deadline = time.monotonic() + 120
    while background.status in ("queued", "in_progress"):
        assert time.monotonic() < deadline
        background = client.responses.retrieve(background.id)
    assert background.usage is not None
    add(background.usage.input_tokens, background.usage.output_tokens)
    long = client.responses.create(
        model=MODEL, input="Write a very long story.", max_output_tokens=400, background=True
    )
    client.responses.cancel(long.id)
    while long.status in ("queued", "in_progress"):
        assert time.monotonic() < deadline
        long = client.responses.retrieve(long.id)
    assert long.status == "cancelled"
    if long.usage is not None:  # it had started: what it generated until the cancel
        add(long.usage.input_tokens, long.usage.output_tokens)
    assert usage_of(server, key["id"]) == received

    vectors = client.embeddings.create(model="all-minilm-l6-v2", input=["one", "two words"])
    embedded = usage_of(server, key["id"], "embeddings")
    assert embedded["input_tokens"] == vectors.usage.prompt_tokens
    assert embedded["num_model_requests"] == 1


def test_a_stream_cut_short_costs_what_it_generated(server: Server, sdk_of: Any) -> None:
    key = key_with(server, tpm=10_000)
    client = sdk_of(key)
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Count from one to one hundred."}],
        max_tokens=400,
        stream=True,
    )
    chunks = iter(stream)
    for _ in range(4):
        next(chunks)
    stream.close()

    def settled() -> dict[str, int] | None:
        totals = usage_of(server, key["id"])
        return totals if totals["num_model_requests"] == 1 else None

    deadline = time.monotonic() + 30
    while (totals := settled()) is None:
        assert time.monotonic() < deadline, "the cut stream was never settled"
    assert 1 <= totals["output_tokens"] < 400
    remaining = httpx.get(server.v1 + "/models", headers=bearer(key))
    used = totals["input_tokens"] + totals["output_tokens"]
    assert int(remaining.headers["x-ratelimit-remaining-tokens"]) == 10_000 - used


def test_bad_limits_name_the_field(server: Server) -> None:
    refused = httpx.post(
        server.v1 + "/admin/keys",
        json={"name": "x", "limits": {"rpm": 0}},
        headers=admin(server),
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "limits.rpm"
    period = httpx.post(
        server.v1 + "/admin/keys",
        json={"name": "x", "limits": {"budget": {"tokens": 5, "period": "week"}}},
        headers=admin(server),
    )
    assert period.status_code == 400
    assert period.json()["error"]["param"] == "limits.budget.period"


def test_usage_api_is_for_admin_keys_and_checks_its_parameters(server: Server) -> None:
    key = key_with(server)
    refused = httpx.get(
        server.v1 + "/organization/usage/completions",
        params={"start_time": 0},
        headers=bearer(key),
    )
    assert refused.status_code == 403
    bad = httpx.get(
        server.v1 + "/organization/usage/completions",
        params={"start_time": 0, "bucket_width": "1w"},
        headers=admin(server),
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "bucket_width"
    paged = httpx.get(
        server.v1 + "/organization/usage/completions",
        params={"start_time": int(time.time()) - 10 * 86400, "limit": 3},
        headers=admin(server),
    ).json()
    assert len(paged["data"]) == 3
    assert paged["has_more"] is True
    assert paged["next_page"] == str(paged["data"][-1]["end_time"])


def ingested(client: openai.OpenAI, text: str) -> Any:
    """A vector store holding one file of ``text``, once its ingestion has ended."""
    file = client.files.create(file=("note.txt", text.encode()), purpose="assistants")
    store = client.vector_stores.create(file_ids=[file.id])
    deadline = time.monotonic() + 180
    while (
        state := client.vector_stores.files.retrieve(file.id, vector_store_id=store.id)
    ).status == ("in_progress"):
        assert time.monotonic() < deadline, "the ingestion never ended"
    return state


def test_ingestion_is_the_usage_of_the_key_that_added_the_file(server: Server, sdk_of: Any) -> None:
    key = key_with(server, tpm=100_000)
    client = sdk_of(key)
    state = ingested(client, f"Kettles whistle when the water boils. {uuid.uuid4()}")
    assert state.status == "completed", state.last_error
    embedded = usage_of(server, key["id"], "embeddings")
    assert embedded["num_model_requests"] == 1
    # The note is a few dozen tokens: the two markers, its words, and its uuid in pieces
    # (how many pieces depends on the uuid's digits).
    assert 10 <= embedded["input_tokens"] <= 60
    remaining = httpx.get(server.v1 + "/models", headers=bearer(key))
    assert int(remaining.headers["x-ratelimit-remaining-tokens"]) == (
        100_000 - embedded["input_tokens"]
    )


def test_a_spent_hard_budget_fails_an_ingestion_saying_so(server: Server, sdk_of: Any) -> None:
    key = key_with(server, budget={"tokens": 5, "period": "day"})
    client = sdk_of(key)
    # The first file's batch is admitted with the budget unspent, and spends past it.
    first = ingested(client, f"Bread rises in a warm kitchen overnight. {uuid.uuid4()}")
    assert first.status == "completed", first.last_error
    second = ingested(client, f"Ovens are preheated before baking. {uuid.uuid4()}")
    assert second.status == "failed"
    assert second.last_error is not None
    assert "Token budget spent" in second.last_error.message
    assert usage_of(server, key["id"], "embeddings")["num_model_requests"] == 1


def test_a_cancelled_fine_tuning_job_gives_its_hold_back(server: Server, sdk_of: Any) -> None:
    key = key_with(server, tpm=1_000)
    client = sdk_of(key)
    example = {
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    }
    training = client.files.create(
        file=("train.jsonl", (json.dumps(example) + "\n").encode()), purpose="fine-tune"
    )
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=training.id)
    held = httpx.get(server.v1 + "/models", headers=bearer(key))
    assert int(held.headers["x-ratelimit-remaining-tokens"]) < 1_000
    assert client.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    after = httpx.get(server.v1 + "/models", headers=bearer(key))
    assert after.headers["x-ratelimit-remaining-tokens"] == "1000"
