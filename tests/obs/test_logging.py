"""Logs: JSON lines when standard error is not a terminal, readable coloured lines when it
is; the access log names the trace and the error code; no library progress bar."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path

import httpx

from tests.servers import WORKHORSE, Server, free_port, wait_for, workhorse_env


def test_a_terminal_gets_readable_coloured_lines(tmp_path: Path) -> None:
    port = free_port()
    env = workhorse_env(tmp_path / "data", None, WORKHORSE_LOAD_BUNDLED_MODELS="false")
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [str(WORKHORSE), "serve", "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    output = b""
    try:
        deadline = time.monotonic() + 60
        while b"ready to serve" not in output and time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1)
            if ready:
                try:
                    output += os.read(leader, 65536)
                except OSError:
                    break
    finally:
        process.terminate()
        process.wait(timeout=20)
        os.close(leader)
    line = next(x for x in output.decode(errors="replace").splitlines() if "ready to serve" in x)
    assert not line.lstrip().startswith("{")
    assert "\x1b[32minfo" in line  # the level, coloured
    assert "workhorse: ready to serve" in line


def test_access_log_lines_are_json_with_the_error_code(server: Server) -> None:
    answer = httpx.post(
        server.v1 + "/chat/completions",
        content=b"x",
        headers={**server.headers(), "content-type": "text/plain", "x-request-id": "req_logline1"},
    )
    assert answer.status_code == 415
    embedded = httpx.post(
        server.v1 + "/embeddings",
        json={"model": "all-minilm-l6-v2", "input": ["one", "two", "three"]},
        headers=server.headers(),
    )
    assert embedded.status_code == 200

    def mine() -> list[dict[str, object]]:
        lines = [json.loads(x) for x in server.log().splitlines() if x.startswith("{")]
        return [x for x in lines if x.get("request_id") == "req_logline1"]

    wait_for(lambda: bool(mine()), timeout=10, what="the access-log line")
    (line,) = mine()
    assert line["error_code"] == "unsupported_media_type"
    assert line["status"] == 415
    assert "trace_id" in line
    assert "Batches" not in server.log()  # sentence-transformers' progress bar
