"""The Anthropic Messages API through the official anthropic SDK, raw HTTP and SOAP."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from tests.api.test_soap import soap_client
from tests.servers import Server, run_llama_cpp_server, run_workhorse
from workhorse.api.messages.service import stream_events
from workhorse.errors import UpstreamError
from workhorse.http.sse import SSEEvent
from workhorse.providers.base import GenerationEvent, TextDelta
from workhorse.providers.registry import bundled_chat_model_path

MODEL = "smollm2-135m-instruct"
UPSTREAM_MODEL = "upstream-smollm2"
TINY_WINDOW_MODEL = "smollm2-128-token-window"
TIMEOUT = 60.0
HI: list[anthropic.types.MessageParam] = [{"role": "user", "content": "hi"}]
# This SDK version has no sampling parameters in its signatures; the API still takes them.
GREEDY = {"temperature": 0}


@pytest.fixture
def claude(server: Server) -> Iterator[anthropic.Anthropic]:
    """The official anthropic SDK pointed at ``server`` (it appends /v1/messages itself)."""
    with anthropic.Anthropic(
        base_url=server.base_url, api_key=server.api_key, max_retries=0
    ) as sdk:
        yield sdk


def only_text(message: anthropic.types.Message) -> str:
    """The message's one content block, which must be text."""
    (block,) = message.content
    assert isinstance(block, anthropic.types.TextBlock)
    return block.text


def post(url: str, *, timeout: float = TIMEOUT, **kwargs: Any) -> httpx.Response:
    """A raw POST, patient with a model that may be busy with another test's request."""
    return httpx.post(url, timeout=timeout, **kwargs)


def messages_url(server: Server, suffix: str = "") -> str:
    return server.v1 + "/messages" + suffix


def anthropic_headers(server: Server) -> dict[str, str]:
    return {"x-api-key": server.api_key, "anthropic-version": "2023-06-01"}


def assert_anthropic_error(response: httpx.Response, status: int, error_type: str) -> str:
    """The Anthropic envelope with ``error_type``; returns the message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"type", "error", "request_id"}
    assert body["type"] == "error"
    assert set(body["error"]) == {"type", "message"}
    assert body["error"]["type"] == error_type
    assert body["request_id"] == response.headers["x-request-id"]
    message: str = body["error"]["message"]
    assert message
    return message


def test_create_answers_with_usage(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model=MODEL,
        max_tokens=24,
        system="You are a helpful assistant.",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        extra_body=GREEDY,
        metadata={"user_id": "user-42"},
    )
    assert message.id.startswith("msg_")
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.model == MODEL
    (block,) = message.content
    assert block.type == "text"
    assert block.text
    assert message.stop_reason in ("end_turn", "max_tokens")
    assert message.usage.input_tokens > 10
    assert 0 < message.usage.output_tokens <= 24


def test_max_tokens_stops_with_max_tokens(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model=MODEL,
        max_tokens=5,
        messages=[{"role": "user", "content": "Write a long story about a dragon."}],
        extra_body=GREEDY,
    )
    assert message.stop_reason == "max_tokens"
    assert message.stop_sequence is None
    assert message.usage.output_tokens == 5


def test_stop_sequence_is_reported_and_cut(claude: anthropic.Anthropic) -> None:
    stops = [" ", "\n"]
    message = claude.messages.create(
        model=MODEL,
        max_tokens=40,
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "Write a sentence about cats."}]}
        ],
        stop_sequences=stops,
        extra_body=GREEDY,
    )
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence in stops
    text = only_text(message)
    assert not any(stop in text for stop in stops)
    assert message.usage.output_tokens < 40


def test_top_k_is_honoured_not_refused(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model=MODEL,
        max_tokens=4,
        messages=HI,
        extra_body={"temperature": 1, "top_k": 1, "top_p": 0.9},
    )
    assert only_text(message)


def test_stream_text_adds_up_to_the_final_message(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(
        model=MODEL,
        max_tokens=16,
        messages=[{"role": "user", "content": "Say hello to the world."}],
        extra_body=GREEDY,
    ) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed
    assert only_text(final) == streamed
    assert final.stop_reason in ("end_turn", "max_tokens")
    assert final.usage.input_tokens > 5
    assert 0 < final.usage.output_tokens <= 16


def test_count_tokens_matches_the_usage_of_a_message(claude: anthropic.Anthropic) -> None:
    system = "You answer in one word."
    messages: list[anthropic.types.MessageParam] = [
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": [{"type": "text", "text": "Another one?"}]},
    ]
    counted = claude.messages.count_tokens(model=MODEL, system=system, messages=messages)
    answered = claude.messages.create(model=MODEL, max_tokens=1, system=system, messages=messages)
    assert counted.input_tokens == answered.usage.input_tokens
    assert counted.input_tokens > 10


def test_bad_key_is_authentication_error(server: Server) -> None:
    sdk = anthropic.Anthropic(base_url=server.base_url, api_key="wrong", max_retries=0)
    with sdk, pytest.raises(anthropic.AuthenticationError) as caught:
        sdk.messages.create(model=MODEL, max_tokens=4, messages=HI)
    assert caught.value.status_code == 401
    assert caught.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    response = post(messages_url(server), json={"model": MODEL})
    assert "API key" in assert_anthropic_error(response, 401, "authentication_error")


def test_unknown_model_is_not_found_error(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        claude.messages.create(model="no-such-model", max_tokens=4, messages=HI)
    assert caught.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    assert "no-such-model" in caught.value.message


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": None}, "max_tokens"),
        ({"temperature": 1.5}, "temperature"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "system", "content": "hi"}]}, "messages[0].role"),
        ({"stop_sequences": [""]}, "stop_sequences[0]"),
        ({"system": 7}, "system"),
        ({"tools": [{"name": "f", "input_schema": {"type": "object"}}]}, "tools"),
        ({"frobnicate": True}, "frobnicate"),
    ],
)
def test_bad_body_is_invalid_request_error(
    claude: anthropic.Anthropic, fields: dict[str, object], param: str
) -> None:
    body: dict[str, object] = {"model": MODEL, "max_tokens": 4, "messages": HI, **fields}
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.post("/v1/messages", body=body, cast_to=anthropic.types.Message)
    assert caught.value.status_code == 400
    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert param in caught.value.message


def test_non_text_block_is_400_naming_it_in_the_anthropic_envelope(server: Server) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": ""}}
    response = post(
        messages_url(server),
        headers={**anthropic_headers(server), "x-request-id": "messages-bad-block-1"},
        json={
            "model": MODEL,
            "max_tokens": 4,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, image]}],
        },
    )
    message = assert_anthropic_error(response, 400, "invalid_request_error")
    assert "messages[0].content[1]" in message
    assert "'image'" in message
    assert response.json()["request_id"] == "messages-bad-block-1"


@pytest.mark.parametrize("version", ["2023-13-45", "latest", "2020-01-01"])
def test_unknown_anthropic_version_is_refused(server: Server, version: str) -> None:
    response = post(
        messages_url(server),
        headers={**anthropic_headers(server), "anthropic-version": version},
        json={"model": MODEL, "max_tokens": 4, "messages": HI},
    )
    assert "anthropic-version" in assert_anthropic_error(response, 400, "invalid_request_error")


def test_every_error_on_messages_routes_is_in_the_anthropic_envelope(server: Server) -> None:
    headers = anthropic_headers(server)
    unknown = post(messages_url(server, "/nothing"), headers=headers, json={})
    assert_anthropic_error(unknown, 404, "not_found_error")
    wrong_method = httpx.get(messages_url(server), headers=headers)
    assert_anthropic_error(wrong_method, 405, "invalid_request_error")
    too_large = post(
        messages_url(server),
        headers={**headers, "content-type": "application/json"},
        content=b"{" + b" " * (11 * 1024 * 1024) + b"}",
    )
    assert_anthropic_error(too_large, 413, "request_too_large")
    media = post(
        messages_url(server, "/count_tokens"),
        headers={**headers, "content-type": "text/plain"},
        content=b"hi",
    )
    assert_anthropic_error(media, 415, "invalid_request_error")
    # The OpenAI routes keep the OpenAI envelope.
    chat = httpx.get(server.v1 + "/embeddings", headers=server.headers())
    assert chat.status_code == 405
    assert set(chat.json()) == {"error"}


def test_missing_version_and_html_form_body_are_fine(server: Server) -> None:
    response = post(
        messages_url(server),
        headers={"x-api-key": server.api_key},
        data={
            "model": MODEL,
            "max_tokens": "4",
            "temperature": "0",
            "system": "Be brief.",
            "messages[0][role]": "user",
            "messages[0][content]": "hi",
            "stop_sequences[]": "zzzz",
        },
    )
    assert response.status_code == 200, response.text
    message = response.json()
    assert set(message) == {
        "id",
        "type",
        "role",
        "content",
        "model",
        "stop_reason",
        "stop_sequence",
        "usage",
    }
    assert message["type"] == "message"
    assert message["content"][0]["type"] == "text"
    assert set(message["usage"]) == {"input_tokens", "output_tokens"}


def test_idempotency_key_replays_the_message(server: Server) -> None:
    headers = {**anthropic_headers(server), "Idempotency-Key": f"msg-{uuid.uuid4()}"}
    body = {"model": MODEL, "max_tokens": 6, "messages": HI, "temperature": 1}
    first = post(messages_url(server), headers=headers, json=body)
    again = post(messages_url(server), headers=headers, json=body)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()


_EVENT = re.compile(r"event: ([a-z_]+)\ndata: ([^\n]*)\n\n")


def test_sse_event_sequence_is_anthropic_exact(server: Server) -> None:
    with httpx.stream(
        "POST",
        messages_url(server),
        headers=anthropic_headers(server),
        json={"model": MODEL, "max_tokens": 8, "messages": HI, "stream": True},
        timeout=TIMEOUT,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()
    assert _EVENT.sub("", raw) == ""  # nothing but well-framed events
    events = [(name, json.loads(data)) for name, data in _EVENT.findall(raw)]
    assert all(data["type"] == name for name, data in events)
    names = [name for name, _ in events]
    deltas = names[3:-3]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert deltas
    assert set(deltas) == {"content_block_delta"}
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    start = events[0][1]["message"]
    assert start["id"].startswith("msg_")
    assert start["content"] == []
    assert start["stop_reason"] is None
    assert start["usage"]["input_tokens"] > 5
    assert events[1][1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    for _, data in events[3:-3]:
        assert data["index"] == 0
        assert data["delta"]["type"] == "text_delta"
    assert events[-3][1] == {"type": "content_block_stop", "index": 0}
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] in ("end_turn", "max_tokens")
    assert delta["delta"]["stop_sequence"] is None
    assert 0 < delta["usage"]["output_tokens"] <= 8
    assert events[-1][1] == {"type": "message_stop"}


def test_stream_errors_before_start_are_plain_http_errors(server: Server) -> None:
    response = post(
        messages_url(server),
        headers=anthropic_headers(server),
        json={"model": "nope", "max_tokens": 4, "messages": HI, "stream": True},
    )
    assert_anthropic_error(response, 404, "not_found_error")


def test_disconnect_stops_the_generation(server: Server) -> None:
    long = {
        "model": MODEL,
        "max_tokens": 1500,
        "temperature": 1.0,
        "messages": [{"role": "user", "content": "Write a very long essay about rivers."}],
        "stream": True,
    }
    with httpx.stream(
        "POST", messages_url(server), headers=anthropic_headers(server), json=long, timeout=TIMEOUT
    ) as response:
        for line in response.iter_lines():
            if line == "event: content_block_delta":
                break
    # The model serves one generation at a time: this gets through within the timeout
    # only once the abandoned 1500-token generation has stopped.
    short = post(
        messages_url(server),
        headers=anthropic_headers(server),
        json={"model": MODEL, "max_tokens": 1, "messages": HI},
        timeout=10,
    )
    assert short.status_code == 200


def test_create_message_over_soap_matches_json(server: Server) -> None:
    soap = soap_client(server)
    try:
        result = soap.service.CreateMessage(
            model=MODEL,
            messages={"item": [{"role": "user", "content": "Name a fruit."}]},
            system="Answer in one word.",
            max_tokens=6,
        )
    finally:
        soap.transport.session.close()
    assert result.type == "message"
    assert result.id.startswith("msg_")
    assert result.content.item[0].type == "text"
    assert isinstance(result.content.item[0].text, str)
    assert result.stop_reason in ("end_turn", "max_tokens")
    counted = post(
        messages_url(server, "/count_tokens"),
        headers=anthropic_headers(server),
        json={
            "model": MODEL,
            "system": "Answer in one word.",
            "messages": [{"role": "user", "content": "Name a fruit."}],
        },
    ).json()
    assert result.usage.input_tokens == counted["input_tokens"]
    assert 0 < result.usage.output_tokens <= 6


@pytest.fixture(scope="module")
def upstream_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Workhorse proxying to a real ``llama_cpp.server`` on the bundled GGUF, and serving
    that GGUF itself with a tiny context window."""
    tmp: Path = tmp_path_factory.mktemp("messages-upstream")
    with run_llama_cpp_server(tmp, bundled_chat_model_path(), UPSTREAM_MODEL) as upstream_url:
        upstreams = [{"name": "llamacpp", "base_url": upstream_url, "models": [UPSTREAM_MODEL]}]
        local = [{"id": TINY_WINDOW_MODEL, "path": str(bundled_chat_model_path()), "n_ctx": 128}]
        with run_workhorse(
            tmp,
            WORKHORSE_UPSTREAMS=json.dumps(upstreams),
            WORKHORSE_LOAD_BUNDLED_MODELS="false",
            WORKHORSE_GGUF_MODELS=json.dumps(local),
        ) as server:
            yield server


def test_max_tokens_beyond_the_window_generates_up_to_it(upstream_proxy: Server) -> None:
    with anthropic.Anthropic(
        base_url=upstream_proxy.base_url, api_key=upstream_proxy.api_key, max_retries=0
    ) as sdk:
        message = sdk.messages.create(
            model=TINY_WINDOW_MODEL,
            max_tokens=4096,
            messages=[{"role": "user", "content": "Count from 1 to 500, separated by commas."}],
            extra_body=GREEDY,
        )
    assert message.stop_reason == "model_context_window_exceeded"
    assert message.usage.input_tokens + message.usage.output_tokens == 128


def test_messages_on_an_upstream_model(upstream_proxy: Server) -> None:
    with anthropic.Anthropic(
        base_url=upstream_proxy.base_url, api_key=upstream_proxy.api_key, max_retries=0
    ) as sdk:
        message = sdk.messages.create(
            model=UPSTREAM_MODEL,
            max_tokens=12,
            system="You are terse.",
            messages=[{"role": "user", "content": "What is 2 + 2?"}],
            extra_body={"temperature": 0, "top_k": 1},
        )
        assert message.model == UPSTREAM_MODEL
        assert only_text(message)
        assert message.stop_reason in ("end_turn", "max_tokens")
        assert message.usage.input_tokens > 5
        assert message.usage.output_tokens > 0
        with sdk.messages.stream(
            model=UPSTREAM_MODEL,
            max_tokens=3,
            messages=[{"role": "user", "content": "Write a long story."}],
        ) as stream:
            streamed = "".join(stream.text_stream)
            final = stream.get_final_message()
        assert only_text(final) == streamed
        assert final.stop_reason == "max_tokens"
        # llama_cpp.server reports no usage in streams: tokens are counted as they come,
        # and the prompt's count stays unknown (0).
        assert final.usage.output_tokens == 3
        counted = sdk.messages.count_tokens(
            model=UPSTREAM_MODEL, messages=[{"role": "user", "content": "What is 2 + 2?"}]
        )
        assert counted.input_tokens > 5
        with pytest.raises(anthropic.BadRequestError) as caught:
            sdk.messages.create(
                model=UPSTREAM_MODEL,
                max_tokens=10,
                messages=[{"role": "user", "content": "hi " * 3000}],
            )
        assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
        assert "llamacpp" in caught.value.message


class _FailingGeneration:
    """A generation whose upstream breaks off after one piece of text."""

    prompt_tokens = 7
    completion_tokens = 1

    def __init__(self) -> None:
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[GenerationEvent]:
        yield TextDelta("Hel")
        raise UpstreamError("upstream 'x' broke off its stream")

    async def aclose(self) -> None:
        self.closed = True


def test_error_after_headers_is_an_error_event_and_releases_the_model() -> None:
    generation = _FailingGeneration()

    async def collect() -> list[SSEEvent]:
        return [event async for event in stream_events(generation, MODEL, "req-mid-stream")]

    events = asyncio.run(collect())
    names = [event.event for event in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "error",
    ]
    assert json.loads(events[0].data)["message"]["usage"]["input_tokens"] == 7
    assert json.loads(events[-1].data) == {
        "type": "error",
        "error": {"type": "api_error", "message": "upstream 'x' broke off its stream"},
        "request_id": "req-mid-stream",
    }
    assert generation.closed


def test_openapi_documents_the_anthropic_routes_and_envelope(server: Server) -> None:
    document = httpx.get(server.base_url + "/openapi.json").json()
    create = document["paths"]["/v1/messages"]["post"]
    schema = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert schema.endswith("/MessageCreateRequest")
    assert "text/event-stream" in create["responses"]["200"]["content"]
    error = create["responses"]["4XX"]["content"]["application/json"]["schema"]["$ref"]
    assert error.endswith("/AnthropicError")
    assert "anthropic-version" in {p["name"] for p in create["parameters"]}
    count = document["paths"]["/v1/messages/count_tokens"]["post"]
    assert count["responses"]["5XX"]["content"]["application/json"]["schema"]["$ref"] == error
