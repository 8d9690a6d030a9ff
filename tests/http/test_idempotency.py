"""Idempotency-Key: replay, mismatch, in-flight conflict, bad keys, expiry, a 50-way race."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.servers import Server, run_workhorse, wait_for

MODEL = "smollm2-135m-instruct"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 8}


def post(
    server: Server, key: str | None, body: dict[str, object], **headers: str
) -> httpx.Response:
    all_headers = {**server.headers(), **headers}
    if key is not None:
        all_headers["Idempotency-Key"] = key
    return httpx.post(server.v1 + "/chat/completions", json=body, headers=all_headers, timeout=120)


def generations(server: Server) -> float:
    metrics = httpx.get(server.base_url + "/metrics").text
    for line in metrics.splitlines():
        if line.startswith(f'workhorse_generations_total{{model="{MODEL}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_same_key_same_request_replays_exactly(server: Server) -> None:
    key = str(uuid.uuid4())
    first = post(server, key, CHAT)
    ran = generations(server)
    second = post(server, key, CHAT)
    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert second.headers["content-type"] == first.headers["content-type"]
    assert generations(server) == ran


def test_replay_accepts_the_same_request_in_another_format(server: Server) -> None:
    key = str(uuid.uuid4())
    first = post(server, key, CHAT)
    form = {
        "model": MODEL,
        "messages[0][role]": "user",
        "messages[0][content]": "Say hi.",
        "max_tokens": "8",
    }
    second = httpx.post(
        server.v1 + "/chat/completions",
        data=form,
        headers={**server.headers(), "Idempotency-Key": key},
    )
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()


def test_streamed_response_replays_its_whole_event_stream(server: Server) -> None:
    key = str(uuid.uuid4())
    body = {**CHAT, "stream": True}
    first = post(server, key, body)
    second = post(server, key, body)
    assert first.text.endswith("data: [DONE]\n\n")
    assert second.text == first.text
    assert second.headers["content-type"].startswith("text/event-stream")
    assert second.headers["idempotent-replayed"] == "true"


def test_same_key_different_request_is_422(server: Server) -> None:
    key = str(uuid.uuid4())
    assert post(server, key, CHAT).status_code == 200
    other = post(server, key, {**CHAT, "max_tokens": 9})
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"


def test_keys_are_scoped_to_the_path(server: Server) -> None:
    key = str(uuid.uuid4())
    assert post(server, key, CHAT).status_code == 200
    embed = httpx.post(
        server.v1 + "/embeddings",
        json={"model": "all-minilm-l6-v2", "input": "x"},
        headers={**server.headers(), "Idempotency-Key": key},
    )
    assert embed.status_code == 200
    assert "idempotent-replayed" not in embed.headers


def test_same_key_while_running_is_409_with_retry_after(server: Server) -> None:
    key = str(uuid.uuid4())
    long = {
        **CHAT,
        "max_tokens": 200,
        "stream": True,
        "messages": [{"role": "user", "content": "Write an essay."}],
    }
    headers = {**server.headers(), "Idempotency-Key": key}
    with httpx.stream(
        "POST", server.v1 + "/chat/completions", json=long, headers=headers, timeout=120
    ) as first:
        lines = first.iter_lines()
        assert next(lines).startswith("data: ")  # claimed and generating
        second = post(server, key, long)
        assert second.status_code == 409
        assert second.headers["retry-after"]
        assert second.json()["error"]["code"] == "idempotency_key_in_progress"
        assert "data: [DONE]" in list(lines)  # the first one still finishes


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "caf\u00e9"])
def test_malformed_key_is_400(server: Server, key: str) -> None:
    response = httpx.post(
        server.v1 + "/chat/completions",
        json=CHAT,
        headers=[*server.headers().items(), ("Idempotency-Key", key.encode("utf-8"))],  # type: ignore[list-item]
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "Idempotency-Key"


def test_client_errors_are_replayed(server: Server) -> None:
    key = str(uuid.uuid4())
    first = post(server, key, {**CHAT, "model": "nope"})
    again = post(server, key, {**CHAT, "model": "nope"})
    assert first.status_code == again.status_code == 404
    assert again.headers["idempotent-replayed"] == "true"


def test_stream_cut_short_releases_the_key(server: Server) -> None:
    key = str(uuid.uuid4())
    body = {
        **CHAT,
        "stream": True,
        "max_tokens": 300,
        "messages": [{"role": "user", "content": "Write an essay."}],
    }
    headers = {**server.headers(), "Idempotency-Key": key}
    with httpx.stream("POST", server.v1 + "/chat/completions", json=body, headers=headers) as r:
        for line in r.iter_lines():
            if line.startswith("data: ") and '"content":"' in line:
                break  # leave mid-stream: the answer never reached us
    wait_for(
        lambda: "idempotent-replayed" not in post(server, key, {**body, "max_tokens": 300}).headers,
        timeout=30,
        what="the abandoned claim to be released",
    )


def test_fifty_concurrent_identical_requests_run_the_model_once(server: Server) -> None:
    key = str(uuid.uuid4())
    before = generations(server)
    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(lambda _: post(server, key, CHAT), range(50)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 409}
    originals = [
        r for r in responses if r.status_code == 200 and "idempotent-replayed" not in r.headers
    ]
    assert len(originals) == 1
    wait_for(
        lambda: post(server, key, CHAT).status_code == 200,
        timeout=60,
        what="the first request to finish",
    )
    assert post(server, key, CHAT).json()["id"] == originals[0].json()["id"]
    assert generations(server) == before + 1


def test_sdk_retries_are_counted(server: Server) -> None:
    def count() -> float:
        for line in httpx.get(server.base_url + "/metrics").text.splitlines():
            if line.startswith("workhorse_client_retries_total") and "embeddings" in line:
                return float(line.split()[-1])
        return 0.0

    before = count()
    httpx.post(
        server.v1 + "/embeddings",
        json={"model": "all-minilm-l6-v2", "input": "x"},
        headers={**server.headers(), "x-stainless-retry-count": "2"},
    )
    assert count() == before + 1


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that keeps idempotency records for 2 seconds."""
    tmp: Path = tmp_path_factory.mktemp("idem")
    with run_workhorse(tmp, WORKHORSE_IDEMPOTENCY_TTL_S="2") as running:
        yield running


def test_expired_key_runs_again(short_lived: Server) -> None:
    key = str(uuid.uuid4())
    first = post(short_lived, key, CHAT)
    assert first.status_code == 200
    time.sleep(2.5)  # the retention period itself is what is under test
    again = post(short_lived, key, {**CHAT, "max_tokens": 3})
    assert again.status_code == 200
    assert "idempotent-replayed" not in again.headers
