"""The Responses API through the official openai SDK and raw HTTP: whole, streamed,
background, resumed, chained, in conversations, cancelled, truncated."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.api.test_soap import soap_client
from tests.servers import Server, wait_for

MODEL = "smollm2-135m-instruct"
LONG = "Write a long story about a dragon who learns to bake bread."


def sse_events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Parsed events of a raw SSE response, checking ``event:`` and ``id:`` agree with
    the payload."""
    name = ident = None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("id: "):
            ident = line[4:]
        elif line.startswith("data: "):
            event = json.loads(line[6:])
            assert event["type"] == name
            assert str(event["sequence_number"]) == ident
            yield event


def deltas(events: list[dict[str, Any]]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")


def wait_status(client: openai.OpenAI, response_id: str, *, timeout: float = 120) -> str:
    done: list[str] = []

    def ended() -> bool:
        status = client.responses.retrieve(response_id).status
        done[:] = [str(status)]
        return status not in ("queued", "in_progress")

    wait_for(ended, timeout=timeout, what=f"response {response_id} to end")
    return done[0]


def test_create_answers_and_is_stored(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model=MODEL, input="Say hello.", max_output_tokens=16, temperature=0
    )
    assert response.status == "completed" or response.status == "incomplete"
    assert response.id.startswith("resp_")
    assert response.output_text
    assert response.usage is not None
    assert response.usage.output_tokens >= 1
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    again = client.responses.retrieve(response.id)
    assert again.output_text == response.output_text
    assert again.status == response.status
    items = client.responses.input_items.list(response.id)
    assert [i.type for i in items.data] == ["message"]
    assert items.data[0].content[0].text == "Say hello."  # type: ignore[union-attr]


def test_running_out_of_tokens_is_incomplete_with_the_reason(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, input=LONG, max_output_tokens=4)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.usage is not None
    assert response.usage.output_tokens == 4


def test_stream_events_are_typed_numbered_and_add_up(client: openai.OpenAI) -> None:
    events = list(
        client.responses.create(
            model=MODEL, input="Say hello.", max_output_tokens=16, temperature=0, stream=True
        )
    )
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        kinds[-1],
    ]
    assert kinds[-1] in ("response.completed", "response.incomplete")
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1].response  # type: ignore[union-attr]
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")  # type: ignore[union-attr]
    assert text == final.output_text
    assert client.responses.retrieve(final.id).output_text == text


def test_previous_response_id_carries_the_history(client: openai.OpenAI) -> None:
    first = client.responses.create(
        model=MODEL, input="My name is Ada. Reply with OK.", max_output_tokens=8, temperature=0
    )
    alone = client.responses.create(
        model=MODEL, input="What is my name?", max_output_tokens=8, temperature=0, store=False
    )
    chained = client.responses.create(
        model=MODEL,
        input="What is my name?",
        previous_response_id=first.id,
        max_output_tokens=8,
        temperature=0,
    )
    third = client.responses.create(
        model=MODEL, input="Thanks.", previous_response_id=chained.id, max_output_tokens=4
    )
    assert chained.previous_response_id == first.id
    assert alone.usage is not None
    assert chained.usage is not None
    assert third.usage is not None
    assert chained.usage.input_tokens > alone.usage.input_tokens
    assert third.usage.input_tokens > chained.usage.input_tokens
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(alone.id)  # store=false keeps nothing
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.create(model=MODEL, input="x", previous_response_id="resp_nope")
    assert missing.value.body["param"] == "previous_response_id"  # type: ignore[index]


def test_conversation_collects_inputs_and_outputs(client: openai.OpenAI) -> None:
    conversation = client.conversations.create(metadata={"topic": "greetings"})
    first = client.responses.create(
        model=MODEL,
        input="Hello there.",
        conversation=conversation.id,
        max_output_tokens=8,
        temperature=0,
    )
    second = client.responses.create(
        model=MODEL,
        input="And again.",
        conversation={"id": conversation.id},
        max_output_tokens=8,
        temperature=0,
    )
    items = client.conversations.items.list(conversation.id, order="asc").data
    assert [(i.type, i.role) for i in items] == [  # type: ignore[union-attr]
        ("message", "user"),
        ("message", "assistant"),
        ("message", "user"),
        ("message", "assistant"),
    ]
    assert items[1].content[0].text == first.output_text  # type: ignore[union-attr]
    assert items[3].content[0].text == second.output_text  # type: ignore[union-attr]
    assert first.usage is not None
    assert second.usage is not None
    assert second.usage.input_tokens > first.usage.input_tokens
    with pytest.raises(openai.BadRequestError):
        client.responses.create(
            model=MODEL, input="x", conversation=conversation.id, previous_response_id=first.id
        )
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.create(model=MODEL, input="x", conversation="conv_missing")
    assert missing.value.body["param"] == "conversation"  # type: ignore[index]


def test_background_response_completes_and_its_stream_resumes(client: openai.OpenAI) -> None:
    queued = client.responses.create(
        model=MODEL, input="Say hello.", max_output_tokens=24, background=True
    )
    assert queued.status in ("queued", "in_progress")
    assert queued.background
    assert wait_status(client, queued.id) in ("completed", "incomplete")
    final = client.responses.retrieve(queued.id)
    every = list(client.responses.retrieve(queued.id, stream=True))
    assert [e.sequence_number for e in every] == list(range(len(every)))
    assert every[0].type == "response.created"
    resumed = list(client.responses.retrieve(queued.id, stream=True, starting_after=4))
    assert [e.sequence_number for e in resumed] == list(range(5, len(every)))
    assert [e.model_dump() for e in resumed] == [e.model_dump() for e in every[5:]]
    text = "".join(e.delta for e in every if e.type == "response.output_text.delta")  # type: ignore[union-attr]
    assert text == final.output_text


def test_cancel_stops_a_background_response(client: openai.OpenAI) -> None:
    started = client.responses.create(
        model=MODEL, input=LONG, max_output_tokens=1500, background=True
    )
    cancelled = client.responses.cancel(started.id)
    assert cancelled.status == "cancelled"
    events = list(client.responses.retrieve(started.id, stream=True))
    assert events[-1].type == "response.cancelled"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    foreground = client.responses.create(model=MODEL, input="Hi.", max_output_tokens=2)
    with pytest.raises(openai.BadRequestError):
        client.responses.cancel(foreground.id)


def test_delete_removes_the_response(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, input="Hi.", max_output_tokens=2)
    client.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


def test_disconnecting_a_foreground_stream_stores_it_incomplete(
    server: Server, client: openai.OpenAI
) -> None:
    body = {"model": MODEL, "input": LONG, "max_output_tokens": 1500, "stream": True}
    seen: list[dict[str, Any]] = []
    with httpx.stream(
        "POST", server.v1 + "/responses", json=body, headers=server.headers(), timeout=60
    ) as response:
        for event in sse_events(response):
            seen.append(event)
            if len([e for e in seen if e["type"] == "response.output_text.delta"]) == 3:
                break
    response_id = seen[0]["response"]["id"]
    assert wait_status(client, response_id, timeout=30) == "incomplete"
    stored = client.responses.retrieve(response_id)
    assert stored.incomplete_details is not None
    assert stored.incomplete_details.reason == "client_disconnected"
    assert stored.output_text.startswith(deltas(seen))
    assert stored.usage is not None
    assert stored.usage.output_tokens >= 3
    assert stored.usage.input_tokens > 0


def test_resume_after_a_dropped_connection_with_last_event_id(
    server: Server, client: openai.OpenAI
) -> None:
    body = {
        "model": MODEL,
        "input": LONG,
        "max_output_tokens": 60,
        "stream": True,
        "background": True,
    }
    first: list[dict[str, Any]] = []
    with httpx.stream(
        "POST", server.v1 + "/responses", json=body, headers=server.headers(), timeout=60
    ) as response:
        for event in sse_events(response):
            first.append(event)
            if event["sequence_number"] == 6:
                break
    response_id = first[0]["response"]["id"]
    headers = {**server.headers(), "Last-Event-ID": "6"}
    with httpx.stream(
        "GET", f"{server.v1}/responses/{response_id}?stream=true", headers=headers, timeout=60
    ) as response:
        rest = list(sse_events(response))
    events = first + rest
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["type"] in ("response.completed", "response.incomplete")
    assert deltas(events) == client.responses.retrieve(response_id).output_text
    # An empty Last-Event-ID (no event seen yet) replays the stream from its start.
    headers = {**server.headers(), "Last-Event-ID": ""}
    with httpx.stream(
        "GET", f"{server.v1}/responses/{response_id}?stream=true", headers=headers, timeout=60
    ) as response:
        assert response.status_code == 200
        again = list(sse_events(response))
    assert [e["sequence_number"] for e in again] == list(range(len(events)))


def test_truncation_auto_drops_the_oldest_items_and_says_so(client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    filler = " ".join(["The quick brown fox jumps over the lazy dog."] * 40)
    for i in range(8):
        client.conversations.items.create(
            conversation.id,
            items=[{"type": "message", "role": "user", "content": f"Note {i}: {filler}"}],
        )
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(
            model=MODEL, input="Summarise.", conversation=conversation.id, max_output_tokens=8
        )
    assert refused.value.code == "context_length_exceeded"
    response = client.responses.create(
        model=MODEL,
        input="Summarise.",
        conversation=conversation.id,
        truncation="auto",
        max_output_tokens=8,
    )
    assert response.status in ("completed", "incomplete")
    assert response.truncation == "auto"
    dropped = response.model_dump()["truncated_items"]
    assert 1 <= dropped < 9
    assert response.usage is not None
    assert response.usage.input_tokens <= 2048 - 8


def test_tools_are_refused_for_the_embedded_model(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(
            model=MODEL,
            input="Weather in Paris?",
            tools=[{"type": "function", "name": "weather", "parameters": {"type": "object"}}],
        )
    assert refused.value.body["param"] == "tools"  # type: ignore[index]
    assert "does not support tools" in refused.value.message


def generations(server: Server) -> float:
    for line in httpx.get(server.base_url + "/metrics").text.splitlines():
        if line.startswith(f'workhorse_generations_total{{model="{MODEL}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_retry_with_the_same_key_returns_the_same_response(server: Server) -> None:
    key = str(uuid.uuid4())
    body = {"model": MODEL, "input": "Say hi.", "max_output_tokens": 4}
    headers = {**server.headers(), "Idempotency-Key": key}
    first = httpx.post(server.v1 + "/responses", json=body, headers=headers, timeout=60)
    ran = generations(server)
    second = httpx.post(server.v1 + "/responses", json=body, headers=headers, timeout=60)
    assert generations(server) == ran  # the model did not run again
    assert first.status_code == second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.headers["idempotent-replayed"] == "true"


def test_form_encoded_create(server: Server) -> None:
    form = {"model": MODEL, "input": "Say hi.", "max_output_tokens": "4", "metadata[app]": "web"}
    response = httpx.post(server.v1 + "/responses", data=form, headers=server.headers(), timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == {"app": "web"}
    assert response.json()["object"] == "response"


def test_invalid_requests_name_the_field(server: Server) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"model": MODEL}, "input"),
        ({"model": MODEL, "input": "x", "temperature": 3}, "temperature"),
        ({"model": MODEL, "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"model": MODEL, "input": "x", "truncation": "sometimes"}, "truncation"),
    ]
    for body, param in cases:
        response = httpx.post(server.v1 + "/responses", json=body, headers=server.headers())
        assert response.status_code == 400, body
        assert response.json()["error"]["param"] == param, response.json()


def test_create_response_over_soap(server: Server, client: openai.OpenAI) -> None:
    soap = soap_client(server)
    try:
        result = soap.service.CreateResponse(
            model=MODEL, input="Say hello.", max_output_tokens=6, temperature=0
        )
    finally:
        soap.transport.session.close()
    assert result.id.startswith("resp_")
    assert result.status in ("completed", "incomplete")
    assert result.usage.output_tokens >= 1
    assert client.responses.retrieve(result.id).output_text == result.output_text
