"""SOAP 1.1 and 1.2 through zeep, a real client built from the served WSDL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
import requests
import zeep
import zeep.exceptions
from zeep.transports import Transport

from tests.servers import Server

MODEL = "smollm2-135m-instruct"


def soap_client(server: Server, key: str | None = None) -> zeep.Client:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key or server.api_key}"
    return zeep.Client(server.base_url + "/soap?wsdl", transport=Transport(session=session))


@pytest.fixture
def soap(server: Server) -> Iterator[zeep.Client]:
    client = soap_client(server)
    yield client
    client.transport.session.close()


def test_chat_over_soap_11_matches_json(soap: zeep.Client, server: Server) -> None:
    result = soap.service.CreateChatCompletion(
        model=MODEL,
        messages={"item": [{"role": "user", "content": "Name a fruit."}]},
        max_tokens=6,
        temperature=0,
        seed=9,
    )
    json_answer = httpx.post(
        server.v1 + "/chat/completions",
        headers=server.headers(),
        json={
            "model": MODEL,
            "messages": [{"role": "user", "content": "Name a fruit."}],
            "max_tokens": 6,
            "temperature": 0,
            "seed": 9,
        },
    ).json()
    choice = result.choices.item[0]
    assert choice.message.content == json_answer["choices"][0]["message"]["content"]
    assert result.usage.completion_tokens == json_answer["usage"]["completion_tokens"]


def test_chat_over_soap_12(soap: zeep.Client) -> None:
    service = soap.bind("Workhorse", "WorkhorseSoap12")
    result = service.CreateChatCompletion(
        model=MODEL, messages={"item": [{"role": "user", "content": "Hi"}]}, max_tokens=3
    )
    assert result.object == "chat.completion"
    assert result.choices.item[0].finish_reason in ("stop", "length")


def test_embeddings_over_soap(soap: zeep.Client) -> None:
    result = soap.service.CreateEmbeddings(
        model="all-minilm-l6-v2", input={"item": ["hello", "world"]}
    )
    assert [d.index for d in result.data.item] == [0, 1]
    assert len(result.data.item[0].embedding.item) == 384


@pytest.mark.parametrize("binding", ["WorkhorseSoap11", "WorkhorseSoap12"])
def test_errors_are_soap_faults(soap: zeep.Client, binding: str) -> None:
    service = soap.bind("Workhorse", binding)
    with pytest.raises(zeep.exceptions.Fault) as caught:
        service.CreateChatCompletion(
            model="nope", messages={"item": [{"role": "user", "content": "Hi"}]}
        )
    assert "does not exist" in caught.value.message
    assert caught.value.detail is not None


def test_stream_is_refused_over_soap(soap: zeep.Client) -> None:
    with pytest.raises(zeep.exceptions.Fault) as caught:
        soap.service.CreateChatCompletion(
            model=MODEL, messages={"item": [{"role": "user", "content": "Hi"}]}, stream=True
        )
    assert "stream" in caught.value.message


def test_bad_key_is_a_fault(server: Server) -> None:
    client = soap_client(server, key="wh-wrong")
    with pytest.raises(zeep.exceptions.Fault) as caught:
        client.service.CreateEmbeddings(model="all-minilm-l6-v2", input={"item": ["x"]})
    assert "API key" in caught.value.message
    client.transport.session.close()


def test_unknown_operation_and_garbage_are_faults(server: Server) -> None:
    envelope = (
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        b'<soap:Body><DropTables xmlns="urn:workhorse"/></soap:Body></soap:Envelope>'
    )
    for body in (envelope, b"not xml at all"):
        response = httpx.post(
            server.base_url + "/soap",
            content=body,
            headers={**server.headers(), "content-type": "text/xml"},
        )
        assert response.status_code == 500  # SOAP 1.1 sends every fault as 500
        assert b"Fault" in response.content
        assert b"faultstring" in response.content


def test_soap_honours_idempotency_keys(server: Server) -> None:
    envelope = (
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        b'<soap:Body><CreateEmbeddings xmlns="urn:workhorse"><model>all-minilm-l6-v2</model>'
        b"<input><item>idempotent</item></input></CreateEmbeddings></soap:Body></soap:Envelope>"
    )
    headers = {**server.headers(), "content-type": "text/xml", "Idempotency-Key": "soap-1"}
    first = httpx.post(server.base_url + "/soap", content=envelope, headers=headers)
    second = httpx.post(server.base_url + "/soap", content=envelope, headers=headers)
    assert first.status_code == 200
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"


def test_file_upload_over_soap(soap: zeep.Client, server: Server) -> None:
    content = b"soap file " + uuid.uuid4().bytes
    created = soap.service.CreateFile(filename="notes.txt", content=content, purpose="assistants")
    assert created.bytes == len(content)
    assert created.filename == "notes.txt"
    download = httpx.get(server.v1 + f"/files/{created.id}/content", headers=server.headers())
    assert download.content == content
