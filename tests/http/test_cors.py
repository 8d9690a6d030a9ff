"""CORS for browser apps on allowed origins: preflights answered before auth, the API's
headers allowed and the rate-limit ones exposed; other origins get nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.servers import Server, run_workhorse

APP = "https://app.example.com"


@pytest.fixture(scope="module")
def cors_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("cors")
    with run_workhorse(tmp, ready=False, WORKHORSE_CORS_ORIGINS=json.dumps([APP])) as server:
        yield server


def test_a_preflight_from_an_allowed_origin_is_answered(cors_server: Server) -> None:
    answer = httpx.options(
        cors_server.v1 + "/chat/completions",
        headers={
            "Origin": APP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, idempotency-key, content-type, "
            "x-api-key, anthropic-version, x-stainless-retry-count",
        },
    )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == APP
    allowed = answer.headers["access-control-allow-headers"].lower()
    for header in ("authorization", "idempotency-key", "x-api-key", "anthropic-version"):
        assert header in allowed
    assert "POST" in answer.headers["access-control-allow-methods"]


def test_responses_expose_the_rate_limit_and_request_id_headers(cors_server: Server) -> None:
    limited = cors_server.create_key("--name", "browser", "--rpm", "100")
    answer = httpx.get(
        cors_server.v1 + "/models", headers={"Origin": APP, "Authorization": f"Bearer {limited}"}
    )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == APP
    exposed = answer.headers["access-control-expose-headers"].lower()
    for header in ("x-request-id", "x-ratelimit-remaining-requests", "ratelimit", "retry-after"):
        assert header in exposed
    assert answer.headers["x-ratelimit-remaining-requests"] == "99"


def test_another_origin_gets_no_cors_headers(cors_server: Server) -> None:
    preflight = httpx.options(
        cors_server.v1 + "/chat/completions",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    plain = httpx.get(
        cors_server.v1 + "/models",
        headers={
            "Origin": "https://evil.example",
            "Authorization": f"Bearer {cors_server.admin_key}",
        },
    )
    assert "access-control-allow-origin" not in plain.headers
