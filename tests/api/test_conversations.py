"""The Conversations API through the official openai SDK, raw HTTP in every body format,
and SOAP through zeep."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import openai
import pytest
from openai.types.responses import EasyInputMessageParam
from pydantic import BaseModel

from tests.api.test_soap import soap_client
from tests.servers import Server


@pytest.fixture(scope="module")
def other_key(server: Server) -> str:
    """A second API key on the same server: a different owner."""
    created = server.cli("keys", "create", "--name", f"other-{uuid.uuid4().hex[:8]}")
    assert created.returncode == 0, created.stderr
    return created.stdout.strip().splitlines()[-1]


@pytest.fixture
def other(server: Server, other_key: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.v1, api_key=other_key, max_retries=0) as sdk:
        yield sdk


def said(text: str) -> EasyInputMessageParam:
    return {"role": "user", "content": text}


def wire(items: Sequence[BaseModel]) -> list[dict[str, Any]]:
    return [item.model_dump(exclude_none=True) for item in items]


def texts(items: Sequence[BaseModel]) -> list[str]:
    return [str(item["content"][0]["text"]) for item in wire(items)]


def ids(items: Sequence[BaseModel]) -> list[str]:
    return [str(item["id"]) for item in wire(items)]


def test_create_retrieve_update_delete(client: openai.OpenAI) -> None:
    created = client.conversations.create(items=[said("Hello")], metadata={"topic": "greetings"})
    assert created.id.startswith("conv_")
    assert created.object == "conversation"
    assert created.metadata == {"topic": "greetings"}
    assert client.conversations.retrieve(created.id) == created

    updated = client.conversations.update(created.id, metadata={"topic": "farewells"})
    assert updated.metadata == {"topic": "farewells"}
    assert updated.created_at == created.created_at
    assert client.conversations.retrieve(created.id).metadata == {"topic": "farewells"}

    deleted = client.conversations.delete(created.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (
        created.id,
        "conversation.deleted",
        True,
    )
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.list(created.id)


def test_an_empty_create_has_no_items_and_empty_metadata(client: openai.OpenAI) -> None:
    created = client.conversations.create()
    assert created.metadata == {}
    page = client.conversations.items.list(created.id)
    assert (page.data, page.has_more, page.last_id) == ([], False, None)


def test_items_are_stored_normalised_with_fresh_ids(server: Server, client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    response = httpx.post(
        server.v1 + f"/conversations/{conversation.id}/items",
        headers=server.headers(),
        json={
            "items": [
                {"role": "user", "content": "What is 2+2?", "id": "msg_client_chosen"},
                {"type": "function_call", "call_id": "c1", "name": "add", "arguments": "[2,2]"},
                {"type": "function_call_output", "call_id": "c1", "output": "4"},
                {"role": "assistant", "content": [{"type": "output_text", "text": "4"}]},
            ]
        },
    )
    assert response.status_code == 200, response.text
    added = response.json()
    assert (added["object"], added["has_more"]) == ("list", False)
    user, call, output, answer = added["data"]
    assert user["id"].startswith("msg_")
    assert user["id"] != "msg_client_chosen"
    assert (added["first_id"], added["last_id"]) == (user["id"], answer["id"])
    assert user["content"] == [{"type": "input_text", "text": "What is 2+2?"}]
    assert (user["role"], user["status"]) == ("user", "completed")
    assert answer["content"][0]["type"] == "output_text"
    assert call == {
        "type": "function_call",
        "id": call["id"],
        "call_id": "c1",
        "name": "add",
        "arguments": "[2,2]",
        "status": "completed",
    }
    for item in (user, call, output, answer):  # the SDK reads back what was stored
        retrieved = client.conversations.items.retrieve(item["id"], conversation_id=conversation.id)
        assert wire([retrieved])[0] == item
    listed = client.conversations.items.list(conversation.id, order="asc")
    assert ids(listed.data) == [item["id"] for item in added["data"]]


def test_deleting_an_item_answers_with_the_conversation(client: openai.OpenAI) -> None:
    conversation = client.conversations.create(
        items=[said("one"), said("two")], metadata={"k": "v"}
    )
    first, second = ids(client.conversations.items.list(conversation.id, order="asc").data)
    answer = client.conversations.items.delete(first, conversation_id=conversation.id)
    assert answer == conversation
    assert ids(client.conversations.items.list(conversation.id).data) == [second]
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve(first, conversation_id=conversation.id)
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.delete(first, conversation_id=conversation.id)


def test_items_page_in_insertion_order(client: openai.OpenAI) -> None:
    conversation = client.conversations.create(items=[said(str(i)) for i in range(3)])
    client.conversations.items.create(conversation.id, items=[said(str(i)) for i in range(3, 5)])
    first = client.conversations.items.list(conversation.id, limit=2, order="asc")
    assert texts(first.data) == ["0", "1"]
    assert first.has_more
    assert first.last_id == ids(first.data)[-1]
    second = client.conversations.items.list(
        conversation.id, limit=2, order="asc", after=ids(first.data)[-1]
    )
    assert texts(second.data) == ["2", "3"]
    last = client.conversations.items.list(
        conversation.id, limit=2, order="asc", after=ids(second.data)[-1]
    )
    assert texts(last.data) == ["4"]
    assert not last.has_more
    newest_first = client.conversations.items.list(conversation.id, limit=3)
    assert texts(newest_first.data) == ["4", "3", "2"]
    assert newest_first.has_more
    older = client.conversations.items.list(
        conversation.id, limit=3, after=ids(newest_first.data)[-1]
    )
    assert texts(older.data) == ["1", "0"]
    # The SDK follows `after` through every page.
    every = client.conversations.items.list(conversation.id, limit=2, order="desc")
    assert texts(list(every)) == ["4", "3", "2", "1", "0"]
    everything = client.conversations.items.list(conversation.id, limit=100, include=[])
    assert len(everything.data) == 5
    assert not everything.has_more


def test_the_list_page_names_its_first_and_last_items(
    server: Server, client: openai.OpenAI
) -> None:
    conversation = client.conversations.create(items=[said("a"), said("b"), said("c")])
    page = httpx.get(
        server.v1 + f"/conversations/{conversation.id}/items",
        params={"limit": 2, "order": "asc"},
        headers=server.headers(),
    ).json()
    assert page["object"] == "list"
    assert (page["first_id"], page["last_id"]) == (page["data"][0]["id"], page["data"][1]["id"])
    assert page["has_more"] is True


def test_an_unknown_after_is_a_400_naming_after(server: Server, client: openai.OpenAI) -> None:
    conversation = client.conversations.create(items=[said("x")])
    response = httpx.get(
        server.v1 + f"/conversations/{conversation.id}/items",
        params={"after": "msg_nope"},
        headers=server.headers(),
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "after"
    with pytest.raises(openai.BadRequestError):
        client.conversations.items.list(conversation.id, after="msg_nope")


@pytest.mark.parametrize("limit", [0, 101])
def test_limit_is_bounded(server: Server, client: openai.OpenAI, limit: int) -> None:
    conversation = client.conversations.create()
    response = httpx.get(
        server.v1 + f"/conversations/{conversation.id}/items",
        params={"limit": limit},
        headers=server.headers(),
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "limit"


def test_an_unknown_conversation_is_a_404_in_the_openai_envelope(server: Server) -> None:
    for method, path in [
        ("GET", "/conversations/conv_missing"),
        ("DELETE", "/conversations/conv_missing"),
        ("GET", "/conversations/conv_missing/items"),
        ("GET", "/conversations/conv_missing/items/msg_missing"),
        ("DELETE", "/conversations/conv_missing/items/msg_missing"),
    ]:
        response = httpx.request(method, server.v1 + path, headers=server.headers())
        assert response.status_code == 404, (method, path)
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert "conv_missing" in error["message"]
        assert set(error) == {"message", "type", "param", "code"}
    for path, body in [
        ("/conversations/conv_missing", {"metadata": {}}),
        ("/conversations/conv_missing/items", {"items": [said("x")]}),
    ]:
        response = httpx.post(server.v1 + path, headers=server.headers(), json=body)
        assert response.status_code == 404, path


@pytest.mark.parametrize(
    ("metadata", "param"),
    [
        ({f"k{i}": "v" for i in range(17)}, "metadata"),
        ({"k": "v" * 513}, "metadata.k"),
        ({"k" * 65: "v"}, "metadata." + "k" * 65),
        ({"k": 1}, "metadata.k"),
        ("not a map", "metadata"),
    ],
)
def test_bad_metadata_is_a_400_naming_the_field(
    server: Server, metadata: object, param: str
) -> None:
    response = httpx.post(
        server.v1 + "/conversations", headers=server.headers(), json={"metadata": metadata}
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_update_needs_metadata(server: Server, client: openai.OpenAI) -> None:
    conversation = client.conversations.create(metadata={"k": "v"})
    response = httpx.post(
        server.v1 + f"/conversations/{conversation.id}", headers=server.headers(), json={}
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "metadata"
    assert client.conversations.retrieve(conversation.id).metadata == {"k": "v"}


def test_item_counts_are_bounded(server: Server, client: openai.OpenAI) -> None:
    many = [said(str(i)) for i in range(21)]
    response = httpx.post(
        server.v1 + "/conversations", headers=server.headers(), json={"items": many}
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "items"
    conversation = client.conversations.create(items=many[:20])
    assert len(client.conversations.items.list(conversation.id, limit=100).data) == 20
    for items in (many, []):
        response = httpx.post(
            server.v1 + f"/conversations/{conversation.id}/items",
            headers=server.headers(),
            json={"items": items},
        )
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "items"


def test_a_malformed_item_is_a_400_naming_it(server: Server) -> None:
    response = httpx.post(
        server.v1 + "/conversations",
        headers=server.headers(),
        json={"items": [said("ok"), {"role": "robot", "content": "x"}]},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"].startswith("items[1]")


def test_another_key_cannot_see_or_touch_the_conversation(
    client: openai.OpenAI, other: openai.OpenAI
) -> None:
    conversation = client.conversations.create(items=[said("private")], metadata={"owner": "me"})
    (item,) = ids(client.conversations.items.list(conversation.id).data)
    with pytest.raises(openai.NotFoundError):
        other.conversations.retrieve(conversation.id)
    with pytest.raises(openai.NotFoundError):
        other.conversations.update(conversation.id, metadata={"owner": "them"})
    with pytest.raises(openai.NotFoundError):
        other.conversations.items.list(conversation.id)
    with pytest.raises(openai.NotFoundError):
        other.conversations.items.create(conversation.id, items=[said("injected")])
    with pytest.raises(openai.NotFoundError):
        other.conversations.items.retrieve(item, conversation_id=conversation.id)
    with pytest.raises(openai.NotFoundError):
        other.conversations.items.delete(item, conversation_id=conversation.id)
    with pytest.raises(openai.NotFoundError):
        other.conversations.delete(conversation.id)
    assert client.conversations.retrieve(conversation.id).metadata == {"owner": "me"}
    assert texts(client.conversations.items.list(conversation.id).data) == ["private"]


def test_create_is_the_same_in_every_body_format(server: Server, client: openai.OpenAI) -> None:
    url, headers = server.v1 + "/conversations", server.headers()
    as_json = httpx.post(
        url, headers=headers, json={"items": [said("hi")], "metadata": {"topic": "t"}}
    )
    as_form = httpx.post(
        url,
        headers=headers,
        data={"items[0][role]": "user", "items[0][content]": "hi", "metadata[topic]": "t"},
    )
    as_multipart = httpx.post(
        url,
        headers=headers,
        files={
            "items[0][role]": (None, "user"),
            "items[0][content]": (None, "hi"),
            "metadata[topic]": (None, "t"),
        },
    )
    as_xml = httpx.post(
        url,
        headers={**headers, "content-type": "application/xml"},
        content=b"<request><items><item><role>user</role><content>hi</content></item></items>"
        b'<metadata><item key="topic">t</item></metadata></request>',
    )
    responses = (as_json, as_form, as_multipart, as_xml)
    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    for response in responses:
        created = response.json()
        assert created["object"] == "conversation"
        assert created["metadata"] == {"topic": "t"}
        items = wire(client.conversations.items.list(created["id"]).data)
        assert [(i["role"], i["content"][0]["text"]) for i in items] == [("user", "hi")]
    assert len({r.json()["id"] for r in responses}) == 4


def test_an_idempotent_create_retried_returns_the_same_conversation(
    client: openai.OpenAI,
) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = client.conversations.with_raw_response.create(items=[said("once")], extra_headers=key)
    second = client.conversations.with_raw_response.create(items=[said("once")], extra_headers=key)
    assert second.parse().id == first.parse().id
    assert second.headers["idempotent-replayed"] == "true"
    assert texts(client.conversations.items.list(first.parse().id).data) == ["once"]


def test_create_over_soap(server: Server, client: openai.OpenAI) -> None:
    soap = soap_client(server)
    try:
        created = soap.service.CreateConversation(
            items={"item": [{"role": "user", "content": "Hello over SOAP"}]},
            metadata={"item": [{"key": "via", "_value_1": "soap"}]},
        )
    finally:
        soap.transport.session.close()
    assert created.id.startswith("conv_")
    assert created.object == "conversation"
    assert [(m.key, m.value) for m in created.metadata.item] == [("via", "soap")]
    retrieved = client.conversations.retrieve(created.id)
    assert retrieved.metadata == {"via": "soap"}
    assert retrieved.created_at == created.created_at
    assert texts(client.conversations.items.list(created.id).data) == ["Hello over SOAP"]
