"""Proxying to an OpenAI-compatible upstream: a real ``llama_cpp.server`` on the same GGUF."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.servers import Server, free_port, run_llama_cpp_server, run_workhorse
from workhorse.providers.registry import bundled_chat_model_path

UPSTREAM_MODEL = "upstream-smollm2"


@pytest.fixture(scope="module")
def silent_upstream() -> Iterator[str]:
    """A server that accepts connections and never answers (for timeouts)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", free_port()))
    listener.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, silent_upstream: str) -> Iterator[Server]:
    tmp: Path = tmp_path_factory.mktemp("upstream")
    with run_llama_cpp_server(tmp, bundled_chat_model_path(), UPSTREAM_MODEL) as upstream_url:
        upstreams = [
            {
                "name": "llamacpp",
                "base_url": upstream_url,
                "models": [UPSTREAM_MODEL],
                "api_key": "upstream-secret-value",
            },
            {
                "name": "silent",
                "base_url": silent_upstream,
                "models": ["silent-model"],
                "read_timeout_s": 1.0,
            },
            {
                "name": "gone",
                "base_url": f"http://127.0.0.1:{free_port()}/v1",
                "models": ["gone-model"],
            },
        ]
        local = [{"id": "local-gguf", "path": str(bundled_chat_model_path()), "n_ctx": 1024}]
        with run_workhorse(
            tmp,
            WORKHORSE_UPSTREAMS=json.dumps(upstreams),
            WORKHORSE_LOAD_BUNDLED_MODELS="false",
            WORKHORSE_GGUF_MODELS=json.dumps(local),
        ) as server:
            yield server


@pytest.fixture
def client(proxy: Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=proxy.v1, api_key=proxy.api_key, max_retries=0) as sdk:
        yield sdk


def test_upstream_models_are_listed(client: openai.OpenAI) -> None:
    models = {m.id: m.owned_by for m in client.models.list()}
    assert models[UPSTREAM_MODEL] == "llamacpp"


def test_proxied_completion(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=UPSTREAM_MODEL,
        messages=[{"role": "user", "content": "What is 2 + 2?"}],
        max_tokens=12,
        temperature=0,
    )
    assert completion.model == UPSTREAM_MODEL
    assert completion.choices[0].message.content
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 0


def test_responses_and_conversations_work_with_upstream_models(client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    first = client.responses.create(
        model=UPSTREAM_MODEL,
        input="Name a fruit.",
        conversation=conversation.id,
        max_output_tokens=8,
        temperature=0,
    )
    assert first.status in ("completed", "incomplete")
    assert first.output_text
    events = list(
        client.responses.create(
            model=UPSTREAM_MODEL,
            input="Another one.",
            conversation=conversation.id,
            max_output_tokens=8,
            stream=True,
        )
    )
    assert events[-1].type in ("response.completed", "response.incomplete")
    assert len(client.conversations.items.list(conversation.id).data) == 4


def test_proxied_stream_relays_chunks(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=UPSTREAM_MODEL,
        messages=[{"role": "user", "content": "Name a fruit."}],
        max_tokens=12,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(c.model == UPSTREAM_MODEL for c in chunks)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed.strip()
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] in ("stop", "length")
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


def test_upstream_4xx_keeps_its_status(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=UPSTREAM_MODEL,
            messages=[{"role": "user", "content": "hi " * 3000}],
            max_tokens=10,
        )
    assert "llamacpp" in caught.value.message


def test_upstream_timeout_is_504(proxy: Server) -> None:
    response = httpx.post(
        proxy.v1 + "/chat/completions",
        headers=proxy.headers(),
        json={"model": "silent-model", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"


def test_unreachable_upstream_is_502(proxy: Server) -> None:
    response = httpx.post(
        proxy.v1 + "/chat/completions",
        headers=proxy.headers(),
        json={"model": "gone-model", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "upstream_error"


def test_upstream_key_never_leaks(proxy: Server) -> None:
    assert "upstream-secret-value" not in proxy.log()


def test_a_configured_local_gguf_serves_beside_upstreams(client: openai.OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert "local-gguf" in ids
    assert "smollm2-135m-instruct" not in ids  # bundled models are off on this node
    completion = client.chat.completions.create(
        model="local-gguf", messages=[{"role": "user", "content": "Hi"}], max_tokens=4
    )
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 0
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="local-gguf", messages=[{"role": "user", "content": "Hi"}], max_tokens=1500
        )
    assert caught.value.code == "context_length_exceeded"
