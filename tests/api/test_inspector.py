"""The request inspector: why did this POST fail, told by ``/v1/admin/requests``.

Rejections carry the error exactly as the client got it; idempotency outcomes, created
resources, tokens and a client that left are recorded; captured bodies hold no secret;
filters and pages work; only admin keys may look; ``workhorse requests`` shows the same.
"""

from __future__ import annotations

import io
import json
import queue
import subprocess
import threading
import time
import uuid
from typing import Any

import httpx
import openai
import pytest

from tests.servers import WORKHORSE, Server, wait_for

MODEL = "smollm2-135m-instruct"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 8}
RECORDED_S = 15


def new_id() -> str:
    return "req_test_" + uuid.uuid4().hex


def admin(server: Server) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.admin_key}"}


def record(server: Server, request_id: str) -> dict[str, Any]:
    """The request's record, once the inspector has written it."""
    found: dict[str, Any] = {}

    def written() -> bool:
        answer = httpx.get(f"{server.v1}/admin/requests/{request_id}", headers=admin(server))
        if answer.status_code == 200:
            found.update(answer.json())
        return answer.status_code == 200

    wait_for(written, timeout=RECORDED_S, what=f"the record of {request_id}")
    return found


def listing(server: Server, **params: object) -> dict[str, Any]:
    answer = httpx.get(f"{server.v1}/admin/requests", params=params, headers=admin(server))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def post(server: Server, path: str, request_id: str, **kwargs: Any) -> httpx.Response:
    headers = {**server.headers(), "x-request-id": request_id, **kwargs.pop("headers", {})}
    return httpx.post(server.v1 + path, headers=headers, timeout=120, **kwargs)


REJECTIONS = {
    "unsupported_media_type": dict(content=b"hi", headers={"content-type": "text/plain"}),
    "payload_too_large": dict(
        content=b"{" + b" " * (11 * 1024 * 1024) + b"}",
        headers={"content-type": "application/json"},
    ),
    "validation": dict(json={"model": MODEL, "messages": "not a list"}),
    "invalid_body": dict(content=b'{"model": ', headers={"content-type": "application/json"}),
}


@pytest.mark.parametrize("reason", list(REJECTIONS))
def test_a_rejected_post_is_recorded_with_the_error_the_client_got(
    server: Server, reason: str
) -> None:
    request_id = new_id()
    answer = post(server, "/chat/completions", request_id, **REJECTIONS[reason])
    assert answer.status_code >= 400
    seen = record(server, request_id)
    assert seen["status"] == answer.status_code
    assert seen["method"] == "POST"
    assert seen["route"] == "/v1/chat/completions"
    assert seen["error"] == answer.json()["error"]
    assert seen["api_key"]["id"]
    assert seen["client_disconnected"] is False
    assert seen["request_bytes"] == len(answer.request.content)
    assert seen["response_bytes"] == len(answer.content)
    assert seen["content_type"] == answer.request.headers.get("content-type")


def test_idempotency_outcomes_are_recorded(server: Server) -> None:
    key = str(uuid.uuid4())
    long = {**CHAT, "max_tokens": 64, "stream": True}
    ids = {name: new_id() for name in ("claimed", "conflict", "replayed", "mismatch", "invalid")}
    headers = {**server.headers(), "Idempotency-Key": key, "x-request-id": ids["claimed"]}
    with httpx.stream(
        "POST", server.v1 + "/chat/completions", json=long, headers=headers, timeout=120
    ) as first:
        lines = first.iter_lines()
        assert next(lines).startswith("data: ")
        conflict = post(
            server,
            "/chat/completions",
            ids["conflict"],
            json=long,
            headers={"Idempotency-Key": key},
        )
        assert conflict.status_code == 409
        assert "data: [DONE]" in list(lines)
    replayed = post(
        server, "/chat/completions", ids["replayed"], json=long, headers={"Idempotency-Key": key}
    )
    assert replayed.headers["idempotent-replayed"] == "true"
    mismatch = post(
        server, "/chat/completions", ids["mismatch"], json=CHAT, headers={"Idempotency-Key": key}
    )
    assert mismatch.status_code == 422
    invalid = post(
        server,
        "/chat/completions",
        ids["invalid"],
        json=CHAT,
        headers={"Idempotency-Key": "x" * 300},
    )
    assert invalid.status_code == 400
    outcomes = {name: record(server, request_id) for name, request_id in ids.items()}
    assert {name: seen["idempotency"] for name, seen in outcomes.items()} == {
        name: name for name in ids
    }
    assert outcomes["conflict"]["error"]["code"] == "idempotency_key_in_progress"
    assert outcomes["mismatch"]["error"]["code"] == "idempotency_key_reused"
    assert outcomes["invalid"]["error"]["param"] == "Idempotency-Key"
    assert outcomes["claimed"]["error"] is None
    assert outcomes["claimed"]["status"] == 200


def test_a_chat_records_its_model_tokens_and_sdk_retries(server: Server) -> None:
    request_id = new_id()
    with openai.OpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0) as client:
        completion = client.chat.completions.create(
            **CHAT,  # type: ignore[arg-type]
            extra_headers={"x-request-id": request_id, "x-stainless-retry-count": "2"},
        )
    assert completion.usage is not None
    seen = record(server, request_id)
    assert seen["model"] == MODEL
    assert seen["usage"] == {
        "input_tokens": completion.usage.prompt_tokens,
        "output_tokens": completion.usage.completion_tokens,
    }
    assert seen["client_retries"] == 2
    assert seen["created"] == [{"object": "chat.completion", "id": completion.id, "url": None}]


def test_a_created_file_is_linked_from_its_record(server: Server) -> None:
    request_id = new_id()
    answer = post(
        server,
        "/files",
        request_id,
        files={"file": ("notes.txt", io.BytesIO(b"hello"), "text/plain")},
        data={"purpose": "assistants"},
    )
    assert answer.status_code == 200, answer.text
    file_id = answer.json()["id"]
    seen = record(server, request_id)
    assert seen["created"] == [{"object": "file", "id": file_id, "url": f"/v1/files/{file_id}"}]
    linked = httpx.get(server.base_url + seen["created"][0]["url"], headers=server.headers())
    assert linked.json()["id"] == file_id


def test_a_client_that_leaves_mid_stream_is_recorded(server: Server) -> None:
    request_id = new_id()
    body = {
        **CHAT,
        "stream": True,
        "max_tokens": 300,
        "messages": [{"role": "user", "content": "Write an essay."}],
    }
    headers = {**server.headers(), "x-request-id": request_id}
    with httpx.stream("POST", server.v1 + "/chat/completions", json=body, headers=headers) as r:
        for line in r.iter_lines():
            if '"content":"' in line:
                break
    seen = record(server, request_id)
    assert seen["client_disconnected"] is True
    assert seen["status"] == 200
    assert seen["id"] in {r["id"] for r in listing(server, failed="true", limit=100)["data"]}


def test_captured_bodies_and_headers_hold_no_secret(server: Server) -> None:
    # The suite's server captures /v1/embeddings and /v1/admin/keys (tests/conftest.py).
    planted = "wh-" + uuid.uuid4().hex + uuid.uuid4().hex
    embedded_id = new_id()
    embedded = post(
        server,
        "/embeddings",
        embedded_id,
        json={"model": "all-minilm-l6-v2", "input": f"my key is {planted}", "user": "u1"},
    )
    assert embedded.status_code == 200
    created_id = new_id()
    created = httpx.post(
        server.v1 + "/admin/keys",
        json={"name": f"captured-{uuid.uuid4().hex[:6]}"},
        headers={**admin(server), "x-request-id": created_id},
    )
    assert created.status_code == 200, created.text
    secret = created.json()["key"]
    for request_id, must_hide in ((embedded_id, planted), (created_id, secret)):
        seen = record(server, request_id)
        text = json.dumps(seen)
        assert seen["captured"] is not None
        assert must_hide not in text
        assert server.api_key not in text
        assert server.admin_key not in text
        headers = dict((k.lower(), v) for k, v in seen["captured"]["request"]["headers"])
        assert headers["authorization"] == "[redacted]"
    embedded_seen = record(server, embedded_id)
    assert '"user": "u1"' in embedded_seen["captured"]["request"]["body"]
    assert embedded_seen["captured"]["response"]["body"].startswith('{"object": "list"')


def test_filters_and_pages(server: Server) -> None:
    key = server.create_key("--name", f"pages-{uuid.uuid4().hex[:8]}")
    ids = [new_id() for _ in range(5)]
    for request_id in ids:
        httpx.get(
            server.v1 + "/models",
            headers={"Authorization": f"Bearer {key}", "x-request-id": request_id},
        )
    key_id = record(server, ids[-1])["api_key"]["id"]
    wait_for(
        lambda: len(listing(server, api_key_id=key_id, limit=100)["data"]) == 5,
        timeout=RECORDED_S,
        what="five records",
    )
    pages, page = [], None
    while True:
        params: dict[str, object] = {"api_key_id": key_id, "limit": 2}
        if page:
            params["page"] = page
        answer = listing(server, **params)
        pages.append([r["id"] for r in answer["data"]])
        page = answer["next_page"]
        assert answer["has_more"] is (page is not None)
        if page is None:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i for p in pages for i in p] == list(reversed(ids))
    ok = listing(server, api_key_id=key_id, status=200, route="/v1/models")["data"]
    assert len(ok) == 5
    assert listing(server, api_key_id=key_id, status_class="4xx")["data"] == []
    since = int(time.time()) + 3600
    assert listing(server, api_key_id=key_id, since=since)["data"] == []
    rejected = listing(server, error_code="unsupported_media_type", limit=100)["data"]
    assert all(r["status"] == 415 for r in rejected)
    bad = httpx.get(f"{server.v1}/admin/requests", params={"page": "x"}, headers=admin(server))
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "page"
    gone = httpx.get(f"{server.v1}/admin/requests/{new_id()}", headers=admin(server))
    assert gone.status_code == 404


def test_only_admin_keys_may_look(server: Server, other_key: str) -> None:
    for path in ("/admin/requests", f"/admin/requests/{new_id()}"):
        answer = httpx.get(server.v1 + path, headers={"Authorization": f"Bearer {other_key}"})
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "insufficient_scope"


def test_the_command_line_shows_failures_and_follows(server: Server) -> None:
    request_id = new_id()
    post(
        server,
        "/chat/completions",
        request_id,
        content=b"x",
        headers={"content-type": "text/plain"},
    )
    record(server, request_id)
    table = server.cli("requests", "--failed", "--limit", "200")
    assert table.returncode == 0, table.stderr
    line = next(line for line in table.stdout.splitlines() if request_id in line)
    assert "415" in line
    assert "unsupported_media_type" in line
    ok = server.cli("requests", "--status", "415", "--limit", "200")
    assert all(" 415 " in line for line in ok.stdout.splitlines()[1:])

    follower = subprocess.Popen(
        [str(WORKHORSE), "requests", "--follow", "--limit", "1"],
        env=server.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert follower.stdout is not None
    out = follower.stdout
    threading.Thread(target=lambda: [lines.put(x) for x in out], daemon=True).start()
    try:
        assert lines.get(timeout=60).startswith("TIME")
        followed = new_id()
        httpx.get(server.v1 + "/models", headers={**server.headers(), "x-request-id": followed})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if followed in lines.get(timeout=max(deadline - time.monotonic(), 0.1)):
                break
        else:
            pytest.fail("the followed request never appeared")
    finally:
        follower.terminate()
        follower.wait(timeout=20)
        out.close()
