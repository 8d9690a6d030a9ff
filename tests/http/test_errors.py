"""The error envelope, request ids, and the OpenAPI document, checked with raw HTTP."""

from __future__ import annotations

import json

import httpx
import pytest
from openapi_spec_validator import validate

from tests.servers import Server, wait_for

CHAT = {"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "hi"}]}


def assert_envelope(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, object] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str)
    assert error["message"]
    assert "Traceback" not in response.text
    return error


def test_unknown_path_is_404_envelope(server: Server) -> None:
    assert_envelope(httpx.get(server.v1 + "/nothing", headers=server.headers()), 404)


def test_wrong_method_is_405_with_allow(server: Server) -> None:
    response = httpx.get(server.v1 + "/embeddings", headers=server.headers())
    assert_envelope(response, 405)
    assert response.headers["allow"] == "POST"
    stored = httpx.put(server.v1 + "/chat/completions", headers=server.headers())
    assert_envelope(stored, 405)
    assert stored.headers["allow"] == "GET, POST"  # create, and list the stored ones


def test_a_405_allows_every_method_of_the_path(server: Server) -> None:
    response = httpx.request("OPTIONS", server.v1 + "/files", headers=server.headers())
    assert_envelope(response, 405)
    assert response.headers["allow"] == "GET, POST"
    items = server.v1 + "/conversations/conv_x/items/item_y"
    response = httpx.request("PUT", items, headers=server.headers())
    assert_envelope(response, 405)
    assert response.headers["allow"] == "DELETE, GET"


def test_a_method_other_than_get_or_post_on_soap_is_a_405_not_a_fault(server: Server) -> None:
    for method in ("TRACE", "PUT", "DELETE"):
        response = httpx.request(method, server.base_url + "/soap", headers=server.headers())
        assert_envelope(response, 405)
        assert response.headers["allow"] == "GET, POST"


def test_a_post_to_soap_without_a_soap_content_type_is_a_415_not_a_fault(
    server: Server,
) -> None:
    for headers in ({}, {"Content-Type": "application/json"}):
        response = httpx.post(
            server.base_url + "/soap", content=b"{}", headers={**server.headers(), **headers}
        )
        assert_envelope(response, 415)
        assert "application/soap+xml" in response.json()["error"]["message"]
    # A SOAP Content-Type is SOAP: a Fault, with 500 over SOAP 1.1 as its binding says.
    response = httpx.post(
        server.base_url + "/soap",
        content=b"not xml",
        headers={**server.headers(), "Content-Type": "text/xml"},
    )
    assert response.status_code == 500
    assert b"<faultcode>soap:Client</faultcode>" in response.content


def test_deleting_a_configured_model_is_forbidden_naming_it(server: Server) -> None:
    response = httpx.delete(server.v1 + "/models/smollm2-135m-instruct", headers=server.headers())
    assert_envelope(response, 403)
    assert response.json()["error"]["code"] == "model_not_deletable"
    model = httpx.get(server.v1 + "/models/smollm2-135m-instruct", headers=server.headers())
    assert model.is_success


def test_an_empty_after_cursor_means_the_start_of_the_list(server: Server) -> None:
    conversation = httpx.post(
        server.v1 + "/conversations",
        json={"items": [{"type": "message", "role": "user", "content": "hi"}]},
        headers=server.headers(),
    ).json()
    for path in (
        "/files",
        "/vector_stores",
        "/fine_tuning/jobs",
        f"/conversations/{conversation['id']}/items",
    ):
        response = httpx.get(server.v1 + path + "?after=", headers=server.headers())
        assert response.status_code == 200, (path, response.text)
        assert response.json()["object"] == "list"
    items = httpx.get(
        server.v1 + f"/conversations/{conversation['id']}/items?after=", headers=server.headers()
    ).json()
    assert len(items["data"]) == 1


def test_soap_is_documented_as_soap_envelopes(server: Server) -> None:
    document = httpx.get(server.base_url + "/openapi.json").json()
    soap = document["paths"]["/soap"]
    assert set(soap["get"]["responses"]["200"]["content"]) == {"text/xml"}
    for status in ("200", "4XX", "5XX"):
        content = soap["post"]["responses"][status]["content"]
        assert set(content) == {"text/xml", "application/soap+xml"}, status
    # An empty body is a Client fault, which SOAP 1.1 sends with 500, as documented.
    response = httpx.post(
        server.base_url + "/soap", headers={**server.headers(), "Content-Type": "text/xml"}
    )
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/xml")
    assert "<faultcode>soap:Client</faultcode>" in response.text


def test_metrics_are_documented_as_prometheus_text(server: Server) -> None:
    document = httpx.get(server.base_url + "/openapi.json").json()
    assert set(document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == {
        "text/plain"
    }
    response = httpx.get(server.base_url + "/metrics")
    assert response.headers["content-type"].startswith("text/plain")


def test_a_chat_completion_without_file_search_has_no_extension_field(server: Server) -> None:
    response = httpx.post(
        server.v1 + "/chat/completions",
        json={**CHAT, "max_tokens": 2},
        headers=server.headers(),
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert "file_search_results" not in response.json()


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"model": "x", "messages": [}', "line 1 column 29"),
        (b'{"model": "x", "model": "y", "messages": []}', "duplicate key 'model'"),
        (b'{"model": "x", "temperature": NaN, "messages": []}', "NaN"),
        (b'{"model": "\xff"}', "UTF-8"),
        (b"[1, 2]", "JSON object"),
        (b"[" * 10_000 + b"]" * 10_000, "nests deeper"),
    ],
)
def test_malformed_json_is_400_saying_where(server: Server, body: bytes, fragment: str) -> None:
    response = httpx.post(
        server.v1 + "/chat/completions",
        headers={**server.headers(), "content-type": "application/json"},
        content=body,
    )
    error = assert_envelope(response, 400)
    assert fragment in str(error["message"])


def test_unsupported_content_type_is_415(server: Server) -> None:
    response = httpx.post(
        server.v1 + "/chat/completions",
        headers={**server.headers(), "content-type": "text/plain"},
        content=json.dumps(CHAT),
    )
    error = assert_envelope(response, 415)
    assert "application/json" in str(error["message"])


def test_oversized_body_is_413_before_reading(server: Server) -> None:
    response = httpx.post(
        server.v1 + "/chat/completions",
        headers={**server.headers(), "content-type": "application/json"},
        content=b"{" + b" " * (11 * 1024 * 1024) + b"}",
    )
    assert_envelope(response, 413)


def test_request_id_is_echoed_or_made(server: Server) -> None:
    mine = httpx.get(server.base_url + "/healthz", headers={"x-request-id": "trace-abc.123"})
    assert mine.headers["x-request-id"] == "trace-abc.123"
    hostile = httpx.get(server.base_url + "/healthz", headers={"x-request-id": "bad id\t<script>"})
    assert hostile.headers["x-request-id"].startswith("req_")
    error = httpx.get(server.v1 + "/models")
    assert error.status_code == 401
    assert error.headers["x-request-id"].startswith("req_")


def test_access_log_has_one_json_line_per_request(server: Server) -> None:
    request_id = "access-log-check-1"
    httpx.post(
        server.v1 + "/embeddings",
        headers={**server.headers(), "x-request-id": request_id},
        json={"model": "all-minilm-l6-v2", "input": "secret words"},
    )

    def lines() -> list[dict[str, object]]:
        found = []
        for line in server.log().splitlines():
            if request_id in line and line.startswith("{"):
                found.append(json.loads(line))
        return found

    wait_for(lambda: bool(lines()), timeout=5, what="the access-log line")
    (entry,) = lines()
    assert entry["method"] == "POST"
    assert entry["path"] == "/v1/embeddings"
    assert entry["status"] == 200
    assert isinstance(entry["duration_ms"], float)
    assert int(entry["bytes_in"]) > 0  # type: ignore[call-overload]
    assert int(entry["bytes_out"]) > 0  # type: ignore[call-overload]
    assert str(entry["api_key_id"]).startswith("key_")
    assert "secret words" not in server.log()


def test_openapi_document_is_valid(server: Server) -> None:
    document = httpx.get(server.base_url + "/openapi.json").json()
    validate(document)
    chat = document["paths"]["/v1/chat/completions"]["post"]
    schema_ref = chat["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert schema_ref.endswith("/ChatCompletionRequest")
    assert "text/event-stream" in chat["responses"]["200"]["content"]
