"""Function tools in the Responses API go to upstreams that support them.

The upstream here is a small OpenAI-compatible server written for the test: what is
tested is what Workhorse sends and how it maps the answer back, not a model's skill at
calling tools. It records every request and answers with a tool call when offered tools
and no tool result yet, else with text quoting the tool result.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.servers import Server, free_port, run_workhorse, wait_for

TOOL_MODEL = "tool-caller"
WEATHER = {
    "type": "function",
    "name": "weather",
    "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def _chunk(delta: dict[str, Any], finish: str | None = None) -> str:
    body = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": TOOL_MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n"


def fake_upstream(seen: list[dict[str, Any]]) -> Starlette:
    async def completions(request: Request) -> Response:
        body = await request.json()
        seen.append(body)
        tool_results = [m for m in body["messages"] if m["role"] == "tool"]
        if body.get("tools") and not tool_results:
            call = {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": "weather", "arguments": ""},
            }
            parts = ['{"city": ', '"Paris"}']

            async def calls() -> AsyncIterator[str]:
                yield _chunk({"role": "assistant", "tool_calls": [call]})
                for part in parts:
                    yield _chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
                yield _chunk({}, "tool_calls")
                usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
                yield f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n"
                yield "data: [DONE]\n\n"

            return StreamingResponse(calls(), media_type="text/event-stream")
        answer = f"It is {tool_results[0]['content']}." if tool_results else "No tools."

        async def text() -> AsyncIterator[str]:
            yield _chunk({"role": "assistant", "content": answer})
            yield _chunk({}, "stop")
            yield "data: [DONE]\n\n"

        if body.get("stream"):
            return StreamingResponse(text(), media_type="text/event-stream")
        return JSONResponse({"choices": [{"message": {"content": answer}}]})

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(fake_upstream(seen), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=10, what="the fake upstream")
    yield f"http://127.0.0.1:{port}/v1", seen
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def proxy(
    tmp_path_factory: pytest.TempPathFactory, upstream: tuple[str, list[dict[str, Any]]]
) -> Iterator[Server]:
    tmp: Path = tmp_path_factory.mktemp("tools")
    upstreams = [{"name": "tools", "base_url": upstream[0], "models": [TOOL_MODEL]}]
    with run_workhorse(
        tmp, WORKHORSE_UPSTREAMS=json.dumps(upstreams), WORKHORSE_LOAD_BUNDLED_MODELS="false"
    ) as server:
        yield server


def test_function_calls_round_trip_through_an_upstream(
    proxy: Server, upstream: tuple[str, list[dict[str, Any]]]
) -> None:
    seen = upstream[1]
    client = openai.OpenAI(base_url=proxy.v1, api_key=proxy.api_key, max_retries=0)
    first = client.responses.create(
        model=TOOL_MODEL,
        input="What is the weather in Paris?",
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice="auto",
    )
    sent = seen[-1]
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "description": "Current weather in a city",
                "parameters": WEATHER["parameters"],
            },
        }
    ]
    assert sent["tool_choice"] == "auto"
    assert first.status == "completed"
    [call] = first.output
    assert call.type == "function_call"
    assert call.name == "weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert call.call_id == "call_1"

    second = client.responses.create(
        model=TOOL_MODEL,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": "call_1", "output": "sunny"}],
        tools=[WEATHER],  # type: ignore[list-item]
    )
    assert second.output_text == "It is sunny."
    messages = seen[-1]["messages"]
    assert messages[0] == {"role": "user", "content": "What is the weather in Paris?"}
    assert messages[1]["role"] == "assistant"
    assert messages[1]["tool_calls"][0]["id"] == "call_1"
    assert messages[1]["tool_calls"][0]["function"]["name"] == "weather"
    assert messages[2] == {"role": "tool", "content": "sunny", "tool_call_id": "call_1"}


def test_streamed_function_call_events(proxy: Server) -> None:
    client = openai.OpenAI(base_url=proxy.v1, api_key=proxy.api_key, max_retries=0)
    events = list(
        client.responses.create(
            model=TOOL_MODEL,
            input="Weather?",
            tools=[WEATHER],  # type: ignore[list-item]
            stream=True,
        )
    )
    kinds = [e.type for e in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    done = events[4]
    assert done.arguments == '{"city": "Paris"}'  # type: ignore[union-attr]
