"""Hostile bodies: each gets a clear 4xx, never a 5xx, and the server stays healthy and small."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest

from tests.servers import Server

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<request><model>&lol4;</model></request>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<request><model>&xxe;</model></request>"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE request SYSTEM "http://127.0.0.1:1/evil.dtd">
<request><model>x</model></request>"""
DEEP_XML = b"<r>" + b"<a>" * 10_000 + b"</a>" * 10_000 + b"</r>"


def raw_request(server: Server, head: bytes, body: bytes = b"", *, timeout: float = 30) -> bytes:
    """Send bytes as they are; return what the server answers."""
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head + body)
        answer = b""
        while chunk := sock.recv(65536):  # the server closes after a 400
            answer += chunk
        return answer


def head(server: Server, content_type: str, length: str | None) -> bytes:
    lines = [
        "POST /v1/chat/completions HTTP/1.1",
        "Host: test",
        f"Authorization: Bearer {server.api_key}",
        f"Content-Type: {content_type}",
    ]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


@pytest.fixture
def watched(server: Server) -> Iterator[psutil.Process]:
    """The server process; after the test it must answer /healthz and not have grown."""
    process = psutil.Process(server.process.pid)
    before = process.memory_info().rss
    yield process
    assert httpx.get(server.base_url + "/healthz", timeout=10).status_code == 200
    assert process.memory_info().rss - before < 64 * 1024 * 1024


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (BILLION_LAUGHS, "DOCTYPE"),
        (XXE, "DOCTYPE"),
        (EXTERNAL_DTD, "DOCTYPE"),
        (DEEP_XML, "nests deeper"),
        (b"<request><model>x</model>", "not valid XML"),
    ],
)
def test_hostile_xml_is_refused(
    server: Server, watched: psutil.Process, body: bytes, fragment: str
) -> None:
    response = httpx.post(
        server.v1 + "/chat/completions",
        content=body,
        headers={**server.headers(), "content-type": "application/xml"},
    )
    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]
    assert "root:" not in response.text


def test_hundred_thousand_multipart_parts(server: Server, watched: psutil.Process) -> None:
    part = b'--B\r\nContent-Disposition: form-data; name="x"\r\n\r\ny\r\n'
    body = part * 100_000 + b"--B--\r\n"
    response = httpx.post(
        server.v1 + "/chat/completions",
        content=body,
        headers={**server.headers(), "content-type": "multipart/form-data; boundary=B"},
    )
    assert response.status_code == 413
    assert "parts" in response.json()["error"]["message"]


def test_endless_part_header(server: Server, watched: psutil.Process) -> None:
    body = b'--B\r\nContent-Disposition: form-data; name="x"; junk="' + b"a" * 2_000_000
    response = httpx.post(
        server.v1 + "/chat/completions",
        content=body,
        headers={**server.headers(), "content-type": "multipart/form-data; boundary=B"},
    )
    assert response.status_code == 400
    assert "multipart" in response.json()["error"]["message"]


def test_truncated_multipart(server: Server, watched: psutil.Process) -> None:
    body = b'--B\r\nContent-Disposition: form-data; name="model"\r\n\r\nsmollm2'
    response = httpx.post(
        server.v1 + "/chat/completions",
        content=body,
        headers={**server.headers(), "content-type": "multipart/form-data; boundary=B"},
    )
    assert response.status_code == 400
    assert "truncated" in response.json()["error"]["message"]


@pytest.mark.parametrize("length", ["-5", "abc", "1e3"])
def test_malformed_content_length(server: Server, watched: psutil.Process, length: str) -> None:
    answer = raw_request(server, head(server, "application/json", length), b"{}")
    assert status_of(answer) == 400
    headers, _, body = answer.partition(b"\r\n\r\n")
    assert b"x-request-id: req_" in headers
    assert b"application/json" in headers
    assert json.loads(body)["error"]["code"] == "malformed_http"


def test_slow_drip_body_is_408(server: Server, watched: psutil.Process) -> None:
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head(server, "application/json", "100000"))
        started = time.monotonic()
        answer = b""
        sock.setblocking(False)
        while time.monotonic() - started < 20 and b"\r\n\r\n" not in answer:
            with contextlib.suppress(BlockingIOError):
                sock.send(b" ")
            try:
                answer += sock.recv(65536)
            except BlockingIOError:
                time.sleep(0.5)
    assert status_of(answer) == 408
    assert b"slower than" in answer


def test_chunked_body_over_the_cap_is_413(server: Server, watched: psutil.Process) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"model": "x", "pad": "'
        for _ in range(12):
            yield b"a" * (1024 * 1024)
        yield b'"}'

    response = httpx.post(
        server.v1 + "/chat/completions",
        content=chunks(),
        headers={**server.headers(), "content-type": "application/json"},
    )
    assert response.status_code == 413
