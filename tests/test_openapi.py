"""The OpenAPI document lists every route of the app, with every status and media type it
answers: a route added without its document, or an answer that changes, fails here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from openapi_spec_validator import validate

from workhorse.app import create_app
from workhorse.config import Settings

JSON = ["application/json", "application/xml", "text/xml"]
STREAM = [*JSON, "text/event-stream"]
SOAP = ["application/soap+xml", "text/xml"]
ERRORS = {"4XX": JSON, "5XX": JSON}

# (method, path) → {status: media types}. Errors are the error envelope, as JSON or, when
# Accept prefers it, XML; the SOAP endpoint answers SOAP envelopes (Faults included),
# except for a request that is not SOAP at all.
ANSWERS: dict[tuple[str, str], dict[str, list[str]]] = {
    ("POST", "/v1/chat/completions"): {"200": STREAM, **ERRORS},
    ("POST", "/v1/messages"): {"200": STREAM, **ERRORS},
    ("POST", "/v1/responses"): {"200": STREAM, **ERRORS},
    ("GET", "/v1/responses/{response_id}"): {"200": STREAM, **ERRORS},
    ("GET", "/v1/files/{file_id}/content"): {"200": ["application/octet-stream"], **ERRORS},
    ("GET", "/v1/feedback/export"): {"200": ["application/x-ndjson"], **ERRORS},
    ("GET", "/metrics"): {"200": ["text/plain"], **ERRORS},
    ("GET", "/soap"): {"200": ["text/xml"], **ERRORS},
    ("POST", "/soap"): {"200": SOAP, "4XX": SOAP, "5XX": SOAP, "415": JSON},
}
PLAIN = {"200": JSON, **ERRORS}


@pytest.fixture(scope="module")
def app_and_document(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Any]]:
    data_dir: Path = tmp_path_factory.mktemp("openapi")
    app = create_app(Settings(data_dir=data_dir))
    return app, app.openapi()


def routes(app: Any) -> set[tuple[str, str]]:
    found = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if getattr(route, "include_in_schema", False):
            for method in getattr(route, "methods", set()) - {"HEAD"}:
                found.add((method, str(context.path_format)))
    return found


def test_the_document_is_valid_openapi(app_and_document: tuple[Any, dict[str, Any]]) -> None:
    validate(app_and_document[1])


def test_every_route_is_in_the_document_and_nothing_else(
    app_and_document: tuple[Any, dict[str, Any]],
) -> None:
    app, document = app_and_document
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    assert documented == routes(app)
    assert len(documented) == 97


def test_every_operation_documents_every_status_and_media_type_it_answers(
    app_and_document: tuple[Any, dict[str, Any]],
) -> None:
    _, document = app_and_document
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            answers = {
                status: sorted(response.get("content", {}))
                for status, response in operation["responses"].items()
            }
            expected = ANSWERS.get((method.upper(), path), PLAIN)
            assert answers == {k: sorted(v) for k, v in expected.items()}, (method, path)
