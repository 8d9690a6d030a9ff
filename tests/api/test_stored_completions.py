"""Stored chat completions (``store: true``) through the official openai SDK: retrieve,
list with model and metadata filters and pages, update metadata, messages, delete; a
project sees only its own."""

from __future__ import annotations

import uuid

import httpx
import openai
import pytest

from tests.servers import Server

MODEL = "smollm2-135m-instruct"


def ask(client: openai.OpenAI, text: str, **extra: object) -> str:
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": text},
        ],
        max_tokens=6,
        **extra,  # type: ignore[arg-type]
    )
    return completion.id


def test_a_stored_completion_reads_back_as_it_was_answered(client: openai.OpenAI) -> None:
    tag = uuid.uuid4().hex
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Say hi."}],
        max_tokens=6,
        store=True,
        metadata={"case": tag},
    )
    stored = client.chat.completions.retrieve(completion.id)
    assert stored.id == completion.id
    assert stored.choices[0].message.content == completion.choices[0].message.content
    assert stored.usage == completion.usage
    assert stored.metadata == {"case": tag}
    messages = client.chat.completions.messages.list(completion.id)
    assert [(m.role, m.content) for m in messages.data] == [("user", "Say hi.")]
    assert messages.data[0].id == f"{completion.id}-0"


def test_unstored_completions_are_not_kept(client: openai.OpenAI) -> None:
    completion_id = ask(client, "Say no.")
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.retrieve(completion_id)


def test_a_streamed_completion_is_stored_whole(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Count to three."}],
        max_tokens=8,
        stream=True,
        store=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    stored = client.chat.completions.retrieve(chunks[0].id)
    assert stored.choices[0].message.content == text
    usage = chunks[-1].usage
    assert usage is not None
    assert stored.usage is not None
    assert stored.usage.completion_tokens == usage.completion_tokens


def test_listing_filters_by_model_and_metadata_and_pages(client: openai.OpenAI) -> None:
    run = uuid.uuid4().hex
    ids = [
        ask(client, f"Item {i}.", store=True, metadata={"run": run, "n": str(i)}) for i in range(5)
    ]
    ask(client, "Other.", store=True, metadata={"run": "elsewhere"})
    pages, after = [], None
    while True:
        page = client.chat.completions.list(
            metadata={"run": run}, limit=2, model=MODEL, **({"after": after} if after else {})
        )
        pages.append([c.id for c in page.data])
        if not page.has_more:
            break
        after = page.data[-1].id
    assert [i for p in pages for i in p] == ids  # oldest first by default
    newest = client.chat.completions.list(metadata={"run": run}, order="desc", limit=100)
    assert [c.id for c in newest.data] == list(reversed(ids))
    one = client.chat.completions.list(metadata={"run": run, "n": "3"})
    assert [c.id for c in one.data] == [ids[3]]
    assert client.chat.completions.list(metadata={"run": run}, model="other-model").data == []


def test_metadata_is_updated_and_a_deleted_completion_is_gone(client: openai.OpenAI) -> None:
    completion_id = ask(client, "Keep me.", store=True, metadata={"state": "draft"})
    updated = client.chat.completions.update(completion_id, metadata={"state": "reviewed"})
    assert updated.metadata == {"state": "reviewed"}
    found = client.chat.completions.list(metadata={"state": "reviewed"}, limit=100)
    assert completion_id in [c.id for c in found.data]
    drafts = client.chat.completions.list(metadata={"state": "draft"}, limit=100)
    assert completion_id not in [c.id for c in drafts.data]
    deleted = client.chat.completions.delete(completion_id)
    assert deleted.deleted is True
    assert deleted.id == completion_id
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.retrieve(completion_id)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.delete(completion_id)


def test_another_project_sees_none_of_them(
    client: openai.OpenAI, other: openai.OpenAI, server: Server
) -> None:
    completion_id = ask(client, "Mine.", store=True)
    with pytest.raises(openai.NotFoundError):
        other.chat.completions.retrieve(completion_id)
    with pytest.raises(openai.NotFoundError):
        other.chat.completions.update(completion_id, metadata={"x": "y"})
    assert completion_id not in [c.id for c in other.chat.completions.list(limit=100).data]
    unknown = httpx.get(
        server.v1 + "/chat/completions",
        params={"after": "chatcmpl-nope", "limit": 1},
        headers=server.headers(),
    )
    assert unknown.status_code == 200  # an unknown cursor lists from the start
    first = client.chat.completions.list(limit=1)
    assert [c["id"] for c in unknown.json()["data"]] == [c.id for c in first.data]
