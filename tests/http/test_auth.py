"""API keys on the wire: Bearer and x-api-key, 401s in the OpenAI envelope."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from tests.servers import Server
from workhorse.app import create_app
from workhorse.config import Settings
from workhorse.governance.keys import Scope
from workhorse.http.auth import ScopeCheck


def test_bearer_and_x_api_key_are_both_accepted(server: Server) -> None:
    bearer = httpx.get(server.v1 + "/models", headers={"Authorization": f"Bearer {server.api_key}"})
    header = httpx.get(server.v1 + "/models", headers={"x-api-key": server.api_key})
    assert bearer.status_code == header.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wh-not-a-real-key"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"x-api-key": "wrong"},
    ],
)
def test_missing_or_bad_key_is_401_envelope(server: Server, headers: dict[str, str]) -> None:
    response = httpx.post(
        server.v1 + "/chat/completions",
        headers=headers,
        json={"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "invalid_api_key"


def test_sdk_sees_authentication_error(server: Server) -> None:
    with (
        openai.OpenAI(base_url=server.v1, api_key="wh-wrong", max_retries=0) as client,
        pytest.raises(openai.AuthenticationError),
    ):
        client.models.list()


def test_health_endpoints_need_no_key(server: Server) -> None:
    assert httpx.get(server.base_url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(server.base_url + "/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "models": "ok"}


def test_initial_key_file_is_owner_only(server: Server) -> None:
    mode = (server.data_dir / "initial-api-key").stat().st_mode & 0o777
    assert mode == 0o600
    assert server.admin_key in server.log()  # printed once on the console...
    assert server.log().count(server.admin_key) == 1  # ...and never again, nor in the access log


# Any key may list and read models: SDKs ask before they call.
SCOPE_FREE = {("GET", "/v1/models"), ("GET", "/v1/models/{model_id}")}


def _scopes_of(dependant: Any) -> set[Scope]:
    found = {d.call.scope for d in dependant.dependencies if isinstance(d.call, ScopeCheck)}
    for sub in dependant.dependencies:
        found |= _scopes_of(sub)
    return found


def test_every_v1_route_declares_the_scope_it_needs(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    unscoped = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = str(context.path_format)
        if not isinstance(route, APIRoute) or not path.startswith("/v1/"):
            continue
        for method in route.methods:
            scopes = _scopes_of(route.dependant)
            if len(scopes) != 1 and (method, path.replace(":path", "")) not in SCOPE_FREE:
                unscoped.append((method, path, scopes))
    assert unscoped == []
