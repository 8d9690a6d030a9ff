"""One model, every body format: JSON, HTML form, multipart and XML give the same result."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from typing import Any

import httpx
import pytest

from tests.servers import Server

CHAT_FIELDS = [
    ("model", "smollm2-135m-instruct"),
    ("messages[0][role]", "system"),
    ("messages[0][content]", "You answer briefly."),
    ("messages[1][role]", "user"),
    ("messages[1][content]", "Name a colour."),
    ("max_tokens", "6"),
    ("temperature", "0"),
    ("seed", "5"),
    ("stop[]", "\n\n"),
]
CHAT_JSON = {
    "model": "smollm2-135m-instruct",
    "messages": [
        {"role": "system", "content": "You answer briefly."},
        {"role": "user", "content": "Name a colour."},
    ],
    "max_tokens": 6,
    "temperature": 0,
    "seed": 5,
    "stop": ["\n\n"],
}
CHAT_XML = b"""<?xml version="1.0"?>
<CreateChatCompletion>
  <model>smollm2-135m-instruct</model>
  <messages>
    <item><role>system</role><content>You answer briefly.</content></item>
    <item><role>user</role><content>Name a colour.</content></item>
  </messages>
  <max_tokens>6</max_tokens><temperature>0</temperature><seed>5</seed>
  <stop><item>

</item></stop>
</CreateChatCompletion>"""


def post(
    server: Server, path: str, headers: dict[str, str] | None = None, **kwargs: Any
) -> httpx.Response:
    return httpx.post(
        server.v1 + path, headers={**server.headers(), **(headers or {})}, timeout=60, **kwargs
    )


def answer(response: httpx.Response) -> tuple[str, int, int]:
    assert response.status_code == 200, response.text
    body = response.json()
    usage = body["usage"]
    return (
        body["choices"][0]["message"]["content"],
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )


def test_chat_is_the_same_in_every_format(server: Server) -> None:
    as_json = answer(post(server, "/chat/completions", json=CHAT_JSON))
    as_form = answer(post(server, "/chat/completions", data=dict(CHAT_FIELDS)))
    as_multipart = answer(
        post(server, "/chat/completions", files={k: (None, v) for k, v in CHAT_FIELDS})
    )
    as_xml = answer(
        post(
            server,
            "/chat/completions",
            content=CHAT_XML,
            headers={"content-type": "application/xml"},
        )
    )
    assert as_json[0]
    assert as_json == as_form == as_multipart == as_xml


def test_embeddings_are_the_same_in_every_format(server: Server) -> None:
    model = "all-minilm-l6-v2"
    as_json = post(server, "/embeddings", json={"model": model, "input": ["a cat", "a dog"]})
    as_form = post(
        server, "/embeddings", data={"model": model, "input[0]": "a cat", "input[1]": "a dog"}
    )
    as_multipart = post(
        server,
        "/embeddings",
        files={"model": (None, model), "input[]": (None, "a cat"), "input[1]": (None, "a dog")},
    )
    as_xml = post(
        server,
        "/embeddings",
        content=f"<request><model>{model}</model><input><item>a cat</item><item>a dog</item>"
        "</input></request>".encode(),
        headers={"content-type": "text/xml"},
    )
    vectors = [r.json()["data"] for r in (as_json, as_form, as_multipart, as_xml)]
    assert vectors[0] == vectors[1] == vectors[2] == vectors[3]


def test_xml_response_when_accept_asks_for_it(server: Server) -> None:
    response = post(
        server,
        "/embeddings",
        json={"model": "all-minilm-l6-v2", "input": "hello"},
        headers={"accept": "application/xml"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.content)  # noqa: S314 - our own server's output
    assert root.tag == "response"
    vector = root.find("data/item/embedding")
    assert vector is not None
    assert len(vector.findall("item")) == 384


def test_errors_follow_accept_too(server: Server) -> None:
    response = post(
        server,
        "/chat/completions",
        json={"model": "x"},
        headers={"accept": "text/xml"},
    )
    assert response.status_code == 400
    root = ET.fromstring(response.content)  # noqa: S314
    assert root.findtext("error/param") == "messages"


def test_json_stays_the_default(server: Server) -> None:
    response = post(
        server,
        "/embeddings",
        json={"model": "all-minilm-l6-v2", "input": "hi"},
        headers={"accept": "application/json, application/xml;q=0.5"},
    )
    assert response.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ("model=a&model=b", "model"),
        ("messages[0][role]=user&messages[0]=x", "messages[0]"),
        ("messages[1][role]=user", "messages"),
        ("a[0]=x&a[b]=y", "a"),
        ("stop[]=x&stop[0]=y", "stop[0]"),
    ],
)
def test_ambiguous_forms_are_refused(server: Server, body: str, param: str) -> None:
    response = post(
        server,
        "/chat/completions",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_file_part_on_an_operation_without_files_is_refused(server: Server) -> None:
    response = post(
        server,
        "/chat/completions",
        files={"model": (None, "smollm2-135m-instruct"), "doc": ("a.txt", b"hello", "text/plain")},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "doc"


def test_unsupported_content_type_lists_accepted_ones(server: Server) -> None:
    response = post(
        server,
        "/embeddings",
        content=b"x",
        headers={"content-type": "application/yaml"},
    )
    assert response.status_code == 415
    message = response.json()["error"]["message"]
    for media in (
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "application/xml",
        "text/xml",
    ):
        assert media in message


def test_openapi_lists_every_content_type(server: Server) -> None:
    document = httpx.get(server.base_url + "/openapi.json").json()
    for path, operations in document["paths"].items():
        if "post" in operations and path.startswith("/v1/"):
            if "requestBody" not in operations["post"]:
                # an action on a resource takes no body; OpenAI cancels an eval run
                # with a POST on the run itself (and on its /cancel)
                actions = ("/cancel", "/pause", "/resume", "/archive", "/runs/{run_id}")
                assert path.endswith(actions), path
                continue
            content = operations["post"]["requestBody"]["content"]
            if path.endswith("/parts"):
                # an upload part is a file: only multipart carries one (415 otherwise)
                assert set(content) == {"multipart/form-data"}, path
                continue
            assert set(content) >= {
                "application/json",
                "application/x-www-form-urlencoded",
                "multipart/form-data",
                "application/xml",
                "text/xml",
            }, path


def test_wrong_method_is_405_with_allow_and_changes_nothing(server: Server) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = httpx.request(method, server.v1 + "/embeddings", headers=server.headers())
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
    assert json.loads(httpx.get(server.base_url + "/healthz").text) == {"status": "ok"}


def test_null_empty_values_and_lists_read_as_docs_formats_md_says(server: Server) -> None:
    """The findings of the contract run: each of these was refused, or taken wrongly."""
    url = server.v1 + "/conversations"
    xml = {**server.headers(), "Content-Type": "application/xml"}
    created = httpx.post(url, content=b"<r><metadata></metadata><items/></r>", headers=xml)
    assert created.status_code == 200, created.text
    assert created.json()["metadata"] == {}
    created = httpx.post(url, content=b"<r><metadata>null</metadata></r>", headers=xml)
    assert created.status_code == 200, created.text
    form = httpx.post(
        url,
        content=b"metadata=&items=",
        headers={**server.headers(), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 200, form.text
    as_json = httpx.post(url, data={"metadata": '{"[0]": "x"}'}, headers=server.headers())
    assert as_json.json()["metadata"] == {"[0]": "x"}, as_json.text
    parts = httpx.post(
        url,
        files={
            "metadata": (None, b'{"team": "blue"}', "application/json"),
            "items": (None, b"null", "application/json"),
        },
        headers=server.headers(),
    )
    assert parts.status_code == 200, parts.text
    assert parts.json()["metadata"] == {"team": "blue"}
    # The word null in a string field is the word; nil is null, refused where not allowed.
    upload = server.v1 + "/uploads"
    fields = b"<bytes>3</bytes><filename>f</filename><purpose>batch</purpose>"
    refused = httpx.post(
        upload, content=b'<r><mime_type nil="true"/>' + fields + b"</r>", headers=xml
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "mime_type"


def test_a_field_given_twice_is_a_list_only_where_the_field_is_one(server: Server) -> None:
    ids = [
        httpx.post(
            server.v1 + "/files",
            files={"file": (f"{n}.txt", f"note {n} {uuid.uuid4()}".encode())},
            data={"purpose": "assistants"},
            headers=server.headers(),
        ).json()["id"]
        for n in range(2)
    ]
    store = httpx.post(server.v1 + "/vector_stores", json={}, headers=server.headers()).json()
    form = {**server.headers(), "Content-Type": "application/x-www-form-urlencoded"}
    batch = httpx.post(
        f"{server.v1}/vector_stores/{store['id']}/file_batches",
        content=f"file_ids={ids[0]}&file_ids={ids[1]}".encode(),
        headers=form,
    )
    assert batch.status_code == 200, batch.text
    assert batch.json()["file_counts"]["total"] == 2
    repeated = httpx.post(server.v1 + "/vector_stores", content=b"name=a&name=b", headers=form)
    assert repeated.status_code == 400
    assert repeated.json()["error"]["param"] == "name"
    assert "more than once" in repeated.json()["error"]["message"]


def test_a_boolean_is_not_a_number_in_any_format(server: Server) -> None:
    url = server.v1 + "/vector_stores"
    body = {"expires_after": {"anchor": "last_active_at", "days": True}}
    refused = httpx.post(url, json=body, headers=server.headers())
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["param"] == "expires_after.days"
