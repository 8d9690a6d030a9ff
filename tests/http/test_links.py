"""The OpenAPI links: each names a real operation, fills only parameters it has, points
into data its source really has, and, followed on a real server, reaches what the
create made."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from tests.servers import Server

Document = dict[str, Any]
Schema = dict[str, Any]

RESPONSE_BODY = re.compile(r"^\$response\.body#((?:/[^/]+)*)$")
REQUEST_BODY = re.compile(r"^\$request\.body#((?:/[^/]+)+)$")
REQUEST_PATH = re.compile(r"^\$request\.path\.(\w+)$")


@pytest.fixture(scope="module")
def document(server: Server) -> Document:
    response = httpx.get(server.base_url + "/openapi.json")
    assert response.status_code == 200
    body: Document = response.json()
    return body


def operations(document: Document) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


@dataclass(frozen=True)
class Link:
    """A documented link, with its source and target operations."""

    name: str
    source: dict[str, Any]
    target: dict[str, Any]
    definition: dict[str, Any]


def links(document: Document) -> list[Link]:
    by_id = {operation["operationId"]: operation for _, _, operation in operations(document)}
    return [
        Link(name, operation, by_id.get(definition["operationId"], {}), definition)
        for _, _, operation in operations(document)
        for response in operation["responses"].values()
        for name, definition in response.get("links", {}).items()
    ]


def success(operation: dict[str, Any]) -> str:
    responses: dict[str, Any] = operation["responses"]
    return min(status for status in responses if status.startswith("2"))


def path_parameters(operation: dict[str, Any]) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}


def resolve(document: Document, schema: Schema) -> Schema:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].split("/")[-1]]
    return schema


def json_schema(document: Document, operation: dict[str, Any], status: str | None = None) -> Schema:
    """The JSON schema of an operation's request body, or of its response ``status``."""
    part = operation["requestBody"] if status is None else operation["responses"][status]
    return resolve(document, part["content"]["application/json"]["schema"])


def leads_somewhere(document: Document, schema: Schema, pointer: str) -> bool:
    """Whether a JSON Pointer can resolve in some instance of ``schema``."""
    schema = resolve(document, schema)
    if not pointer:
        return True
    head, _, rest = pointer[1:].partition("/")
    rest = "/" + rest if rest else ""
    if branches := schema.get("anyOf", []) + schema.get("oneOf", []):
        return any(leads_somewhere(document, branch, pointer) for branch in branches)
    if head.isdigit() and "items" in schema:
        return leads_somewhere(document, schema["items"], rest)
    if head in schema.get("properties", {}):
        return leads_somewhere(document, schema["properties"][head], rest)
    extra = schema.get("additionalProperties", False)
    # A free-form object (conversation items are) may hold anything.
    return extra is True or (isinstance(extra, dict) and leads_somewhere(document, extra, rest))


def expressions(value: object) -> Iterator[str]:
    """The runtime expressions in a link's parameters or request body."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from expressions(item)
    elif isinstance(value, list):
        for item in value:
            yield from expressions(item)


def test_the_document_with_its_links_is_valid_openapi(document: Document) -> None:
    validate(document)
    assert len(links(document)) >= 50


def test_every_link_names_an_operation_and_only_parameters_it_has(document: Document) -> None:
    for link in links(document):
        assert link.target, f"{link.name}: no operation {link.definition['operationId']}"
        declared = {p["name"] for p in link.target.get("parameters", [])}
        parameters = set(link.definition.get("parameters", {}))
        assert parameters <= declared, (link.name, parameters - declared)
        # A path parameter left to chance reaches nothing.
        assert path_parameters(link.target) <= parameters, link.name
        if "requestBody" in link.definition:
            fields = json_schema(document, link.target)["properties"]
            assert set(link.definition["requestBody"]) <= set(fields), link.name


def test_every_link_expression_points_into_its_source(document: Document) -> None:
    for link in links(document):
        values = [link.definition.get("parameters", {}), link.definition.get("requestBody", {})]
        for expression in expressions(values):
            if match := RESPONSE_BODY.match(expression):
                schema = json_schema(document, link.source, success(link.source))
                assert leads_somewhere(document, schema, match[1]), (link.name, expression)
            elif match := REQUEST_BODY.match(expression):
                schema = json_schema(document, link.source)
                assert leads_somewhere(document, schema, match[1]), (link.name, expression)
            elif match := REQUEST_PATH.match(expression):
                assert match[1] in path_parameters(link.source), (link.name, expression)
            else:
                pytest.fail(f"{link.name}: {expression!r} is no expression this test knows")


def test_every_operation_addressed_by_an_id_is_a_link_target(document: Document) -> None:
    targets = {link.definition["operationId"] for link in links(document)}
    unreachable = [
        f"{method.upper()} {path}"
        for method, path, operation in operations(document)
        if path_parameters(operation) and operation["operationId"] not in targets
    ]
    assert unreachable == []


@dataclass(frozen=True)
class Call:
    """A call made and its JSON answer: what a link's expressions read."""

    method: str
    path: str
    path_values: dict[str, str]
    body: Any
    response: Any


class Walker:
    """Calls a real server the way a stateful tester does: by following links."""

    def __init__(self, server: Server, document: Document, key: str | None = None) -> None:
        self.server = server
        self.headers = {"Authorization": f"Bearer {key or server.api_key}"}
        self.document = document
        self.by_id = {op["operationId"]: (m, p) for m, p, op in operations(document)}

    def call(self, method: str, path: str, path_values: dict[str, str], **kwargs: Any) -> Call:
        url = self.server.base_url + path.format(**path_values)
        answer = httpx.request(method, url, headers=self.headers, timeout=60, **kwargs)
        assert answer.status_code == 200, (method, url, answer.text)
        body = answer.json() if "json" in answer.headers["content-type"] else None
        return Call(method, path, path_values, kwargs.get("json"), body)

    def follow(self, source: Call, name: str, body: Any = None, **kwargs: Any) -> Call:
        """Call what link ``name`` of ``source`` names: the link fills its parameters and
        its body fields, ``body`` the rest."""
        operation = self.document["paths"][source.path][source.method]
        definition = operation["responses"][success(operation)]["links"][name]
        method, path = self.by_id[definition["operationId"]]
        path_values = {
            key: str(self.evaluate(value, source))
            for key, value in definition.get("parameters", {}).items()
        }
        if "requestBody" in definition:
            body = {**(body or {}), **self.evaluate(definition["requestBody"], source)}
        if body is not None:
            kwargs["json"] = body
        return self.call(method, path, path_values, **kwargs)

    def evaluate(self, value: Any, source: Call) -> Any:
        if isinstance(value, dict):
            return {key: self.evaluate(item, source) for key, item in value.items()}
        if isinstance(value, list):
            return [self.evaluate(item, source) for item in value]
        if match := RESPONSE_BODY.match(value):
            return pointer(source.response, match[1])
        if match := REQUEST_BODY.match(value):
            return pointer(source.body, match[1])
        if match := REQUEST_PATH.match(value):
            return source.path_values[match[1]]
        raise AssertionError(f"not an expression: {value!r}")


def pointer(value: Any, path: str) -> Any:
    for part in path.split("/")[1:]:
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def test_the_links_from_a_file_reach_it_and_its_vector_stores(
    server: Server, document: Document
) -> None:
    walk = Walker(server, document)
    file = walk.call(
        "post",
        "/v1/files",
        {},
        json={"purpose": "assistants", "filename": "links.txt", "content": "bGlua3M="},
    )
    assert walk.follow(file, "RetrieveFile").response["id"] == file.response["id"]
    walk.follow(file, "DownloadFile")
    store = walk.follow(file, "CreateVectorStoreWithFile")
    assert walk.follow(store, "RetrieveVectorStore").response["id"] == store.response["id"]
    walk.follow(store, "ListVectorStoreFiles")
    added = walk.follow(store, "AddVectorStoreFile")
    assert added.response["id"] == file.response["id"]
    assert walk.follow(added, "RetrieveVectorStoreFile").response["id"] == file.response["id"]
    batch = walk.follow(store, "CreateFileBatch")
    assert walk.follow(batch, "RetrieveFileBatch").response["id"] == batch.response["id"]
    walk.follow(batch, "ListFileBatchFiles")


def test_the_links_from_an_upload_reach_its_parts_and_its_file(
    server: Server, document: Document
) -> None:
    walk = Walker(server, document)
    upload = walk.call(
        "post",
        "/v1/uploads",
        {},
        json={"filename": "u.txt", "purpose": "assistants", "bytes": 5, "mime_type": "text/plain"},
    )
    part = walk.follow(upload, "AddUploadPart", files={"data": ("p", b"hello")})
    completed = walk.follow(part, "CompleteUpload")
    assert completed.response["status"] == "completed"
    assert walk.follow(completed, "RetrieveFile").response["bytes"] == 5


def test_the_links_from_a_conversation_reach_its_items_and_responses(
    server: Server, document: Document
) -> None:
    walk = Walker(server, document)
    conversation = walk.call("post", "/v1/conversations", {}, json={})
    items = walk.follow(
        conversation,
        "CreateItems",
        {"items": [{"type": "message", "role": "user", "content": "Name a colour."}]},
    )
    item = walk.follow(items, "RetrieveItem")
    assert item.response["id"] == items.response["data"][0]["id"]
    response = walk.follow(
        conversation,
        "CreateResponseInConversation",
        {"model": "smollm2-135m-instruct", "input": "And another.", "max_output_tokens": 4},
    )
    assert walk.follow(response, "RetrieveResponse").response["id"] == response.response["id"]
    walk.follow(response, "ListInputItems")
    in_conversation = walk.follow(response, "RetrieveConversation")
    assert in_conversation.response["id"] == conversation.response["id"]


def test_the_links_from_a_project_reach_its_keys(server: Server, document: Document) -> None:
    walk = Walker(server, document, key=server.admin_key)
    project = walk.call("post", "/v1/admin/projects", {}, json={"name": "links"})
    assert walk.follow(project, "RetrieveProject").response["id"] == project.response["id"]
    assert walk.follow(project, "UpdateProject", {"name": "renamed"}).response["name"] == "renamed"
    key = walk.follow(project, "CreateApiKeyInProject", {"name": "linked"})
    assert key.response["project_id"] == project.response["id"]
    assert walk.follow(key, "RetrieveApiKey").response["id"] == key.response["id"]
    assert walk.follow(key, "RetrieveKeyProject").response["id"] == project.response["id"]
    walk.follow(key, "UpdateApiKey", {"scopes": ["chat"]})
    assert walk.follow(key, "RotateApiKey", {}).response["id"] == key.response["id"]
    assert walk.follow(key, "RevokeApiKey").response["deleted"] is True
    assert walk.follow(project, "ArchiveProject").response["status"] == "archived"
