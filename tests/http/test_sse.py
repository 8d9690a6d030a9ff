"""Raw SSE framing, and streams whose client disconnects."""

from __future__ import annotations

import json
import socket
import time

import httpx

from tests.servers import Server

MODEL = "smollm2-135m-instruct"


def test_sse_framing_is_openai_exact(server: Server) -> None:
    with httpx.stream(
        "POST",
        server.v1 + "/chat/completions",
        headers=server.headers(),
        json={
            "model": MODEL,
            "messages": [{"role": "user", "content": "Say hi."}],
            "max_tokens": 8,
            "stream": True,
        },
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()
    events = raw.split("\n\n")
    assert events[-1] == ""
    events = events[:-1]
    assert all(e.startswith("data: ") and "\n" not in e for e in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[len("data: ") :]) for e in events[:-1]]
    for chunk in chunks:
        assert chunk["object"] == "chat.completion.chunk"
        assert set(chunk) == {"id", "object", "created", "model", "system_fingerprint", "choices"}
        (choice,) = chunk["choices"]
        assert set(choice) == {"index", "delta", "logprobs", "finish_reason"}
    assert chunks[-1]["choices"][0]["delta"] == {}
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")


def test_stream_errors_before_start_are_plain_http_errors(server: Server) -> None:
    response = httpx.post(
        server.v1 + "/chat/completions",
        headers=server.headers(),
        json={"model": "nope", "messages": [{"role": "user", "content": "hi"}], "stream": True},
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


def _start_long_stream(server: Server) -> socket.socket:
    body = json.dumps(
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "Write a very long essay about rivers."}],
            "max_tokens": 1500,
            "temperature": 1.0,
            "stream": True,
        }
    ).encode()
    host, port = server.base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {server.api_key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    received = b""
    while received.count(b"data: ") < 3:
        received += sock.recv(65536)
    return sock


def test_disconnect_stops_the_generation(server: Server) -> None:
    sock = _start_long_stream(server)
    sock.close()
    # The model serves one generation at a time: a short request gets through only once
    # the abandoned 1500-token generation has stopped.
    started = time.monotonic()
    response = httpx.post(
        server.v1 + "/chat/completions",
        headers=server.headers(),
        json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1},
        timeout=60,
    )
    assert response.status_code == 200
    assert time.monotonic() - started < 3.0
