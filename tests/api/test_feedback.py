"""Feedback: rate responses, stored chat completions, stored Anthropic messages and
conversation items; a subject rated again keeps its history and the newest counts;
filters; delete; the JSONL export carries the rated exchange; another project can rate
none of them."""

from __future__ import annotations

import json
import uuid
from typing import Any

import anthropic
import httpx
import openai

from tests.servers import Server

MODEL = "smollm2-135m-instruct"


def rate(server: Server, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key or server.api_key}"}
    return httpx.post(server.v1 + "/feedback", json=body, headers=headers, timeout=30)


def listed(server: Server, **params: Any) -> list[dict[str, Any]]:
    answer = httpx.get(server.v1 + "/feedback", params=params, headers=server.headers())
    assert answer.status_code == 200, answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


def test_a_response_rated_again_keeps_its_history(server: Server, client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, input="Say hi.", max_output_tokens=6)
    subject = {"type": "response", "id": response.id}
    first = rate(server, {"subject": subject, "rating": "down", "comment": "too short"})
    assert first.status_code == 200, first.text
    assert first.json()["model"] == MODEL
    assert first.json()["latest"] is True
    tag = uuid.uuid4().hex[:12]
    second = rate(
        server, {"subject": subject, "rating": "up", "tags": [tag], "correction": "Hello there!"}
    )
    assert second.status_code == 200
    now = listed(server, subject_id=response.id)
    assert [f["id"] for f in now] == [second.json()["id"]]  # the latest counts
    history = listed(server, subject_id=response.id, history="true")
    assert [f["id"] for f in history] == [second.json()["id"], first.json()["id"]]
    assert [f["latest"] for f in history] == [True, False]
    assert [f["id"] for f in listed(server, tag=tag)] == [second.json()["id"]]
    assert listed(server, subject_id=response.id, rating="down") == []
    gone = httpx.delete(f"{server.v1}/feedback/{second.json()['id']}", headers=server.headers())
    assert gone.status_code == 200
    assert gone.json()["deleted"] is True
    again = listed(server, subject_id=response.id)
    assert [f["id"] for f in again] == [first.json()["id"]]  # the one before counts again
    assert again[0]["latest"] is True


def test_numeric_ratings_are_scores_from_one_to_five(server: Server, client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=4, store=True
    )
    subject = {"type": "chat_completion", "id": completion.id}
    scored = rate(server, {"subject": subject, "rating": 4})
    assert scored.status_code == 200, scored.text
    assert scored.json()["rating"] == 4
    assert [f["id"] for f in listed(server, subject_id=completion.id, rating="score")] == [
        scored.json()["id"]
    ]
    for wrong in (7, 0, "meh"):
        refused = rate(server, {"subject": subject, "rating": wrong})
        assert refused.status_code == 400, wrong
        assert refused.json()["error"]["param"].startswith("rating"), wrong


def test_the_subject_must_exist_in_the_callers_project(
    server: Server, client: openai.OpenAI, other_key: str
) -> None:
    missing = rate(server, {"subject": {"type": "response", "id": "resp_nope"}, "rating": "up"})
    assert missing.status_code == 404
    assert missing.json()["error"]["param"] == "subject.id"
    completion = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=4, store=True
    )
    subject = {"type": "chat_completion", "id": completion.id}
    assert rate(server, {"subject": subject, "rating": "up"}, key=other_key).status_code == 404
    item = {"type": "conversation_item", "id": "msg_x"}
    unnamed = rate(server, {"subject": item, "rating": "up"})
    assert unnamed.status_code == 400
    assert "conversation_id" in unnamed.json()["error"]["message"]


def test_the_export_streams_each_rating_with_its_exchange(
    server: Server, client: openai.OpenAI
) -> None:
    tag = uuid.uuid4().hex[:12]
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Name a colour."}],
        max_tokens=6,
        store=True,
    )
    conversation = client.conversations.create(
        items=[
            {"type": "message", "role": "user", "content": "What is 2 + 2?"},
            {"type": "message", "role": "assistant", "content": "5"},
        ]
    )
    items = client.conversations.items.list(conversation.id, order="asc").data
    answer = items[-1]
    subjects = [
        {"type": "chat_completion", "id": completion.id},
        {"type": "conversation_item", "id": answer.id, "conversation_id": conversation.id},
    ]
    for subject in subjects:
        body = {"subject": subject, "rating": "down", "tags": [tag], "correction": "Fixed."}
        assert rate(server, body).status_code == 200
    with httpx.stream(
        "GET", server.v1 + "/feedback/export", params={"tag": tag}, headers=server.headers()
    ) as export:
        assert export.status_code == 200
        assert export.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in export.iter_lines() if line]
    assert [line["subject"]["type"] for line in lines] == ["chat_completion", "conversation_item"]
    chat, item = (line["exchange"] for line in lines)
    assert chat["input"] == [{"role": "user", "content": "Name a colour."}]
    assert chat["output"] == completion.choices[0].message.content
    assert chat["model"] == MODEL
    assert item["input"] == [{"role": "user", "content": "What is 2 + 2?"}]
    assert item["output"] == "5"
    assert all(line["correction"] == "Fixed." for line in lines)

    dataset = httpx.post(
        server.v1 + "/feedback/datasets",
        json={"tag": [tag], "filename": "rated.jsonl"},
        headers=server.headers(),
    )
    assert dataset.status_code == 200, dataset.text
    assert dataset.json()["purpose"] == "evals"
    content = client.files.content(dataset.json()["id"]).text
    dataset_items = [json.loads(line)["item"] for line in content.splitlines()]
    assert [i["reference"] for i in dataset_items] == ["Fixed.", "Fixed."]
    assert dataset_items[0]["input"] == chat["input"]
    assert dataset_items[0]["output"] == chat["output"]
    assert dataset_items[1]["subject"]["conversation_id"] == conversation.id


def test_the_export_and_dataset_paths_answer_only_their_methods(server: Server) -> None:
    for path, allowed in (("/feedback/export", "GET"), ("/feedback/datasets", "POST")):
        answer = httpx.delete(server.v1 + path, headers=server.headers())
        assert answer.status_code == 405, path
        assert answer.headers["allow"] == allowed
    unknown = httpx.get(server.v1 + "/feedback/fb_" + "0" * 32, headers=server.headers())
    assert unknown.status_code == 404


def test_a_stored_anthropic_message_is_rated_and_exported(server: Server) -> None:
    with anthropic.Anthropic(
        base_url=server.base_url, api_key=server.api_key, max_retries=0
    ) as claude:
        kept = claude.messages.create(
            model=MODEL,
            max_tokens=8,
            system="Be brief.",
            messages=[{"role": "user", "content": "Name a colour."}],
            extra_body={"store": True},
        )
        with claude.messages.stream(
            model=MODEL,
            max_tokens=8,
            messages=[{"role": "user", "content": "Name a fruit."}],
            extra_body={"store": True},
        ) as stream:
            streamed = stream.get_final_message()
        unkept = claude.messages.create(
            model=MODEL, max_tokens=4, messages=[{"role": "user", "content": "Hi."}]
        )
    tag = uuid.uuid4().hex[:12]
    for message in (kept, streamed):
        rated = rate(
            server, {"subject": {"type": "message", "id": message.id}, "rating": 4, "tags": [tag]}
        )
        assert rated.status_code == 200, rated.text
        assert rated.json()["model"] == MODEL
    refused = rate(server, {"subject": {"type": "message", "id": unkept.id}, "rating": "up"})
    assert refused.status_code == 404
    assert refused.json()["error"]["param"] == "subject.id"
    exported = httpx.get(
        server.v1 + "/feedback/export", params={"tag": tag}, headers=server.headers()
    )
    lines = [json.loads(line) for line in exported.text.splitlines()]
    exchanges = {line["subject"]["id"]: line["exchange"] for line in lines}
    colour = exchanges[kept.id]
    assert colour["input"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name a colour."},
    ]
    assert colour["output"] == "".join(b.text for b in kept.content if b.type == "text")
    fruit = exchanges[streamed.id]
    assert fruit["output"] == "".join(b.text for b in streamed.content if b.type == "text")
