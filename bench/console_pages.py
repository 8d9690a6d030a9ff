"""The console's chat page with many conversations: its time with 10 against 5,000.

One Workhorse server, one signed-in console session. The project gets 10 conversations,
the page ``GET /chat`` and a conversation's page are timed; then it gets 5,000 more and
they are timed again (the first page, and a page deep in the list). The list is paged by
keyset on ``(created_at, id)``, so the ratio should stay near 1.

    .venv/bin/python bench/console_pages.py [--many 5000] [--repeats 50]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import run_workhorse


def sign_in(http: httpx.Client, key: str) -> None:
    page = http.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    signed = http.post(
        "/sign-in",
        data={"csrf_token": token.group(1), "next": "/chat", "api_key": key},
        headers={"origin": str(http.base_url).rstrip("/")},
    )
    assert signed.status_code == 303, signed.text


def add_conversations(http: httpx.Client, v1: str, key: str, count: int) -> list[str]:
    ids = []
    headers = {"Authorization": f"Bearer {key}"}
    for i in range(count):
        made = http.post(
            v1 + "/conversations",
            headers=headers,
            json={
                "metadata": {"title": f"conversation {i}"},
                "items": [{"role": "user", "content": f"question {i}"}],
            },
        )
        made.raise_for_status()
        ids.append(made.json()["id"])
    return ids


def timed(http: httpx.Client, path: str, repeats: int) -> float:
    """The median milliseconds of ``GET path``."""
    for _ in range(5):  # warm: templates compiled, connections and caches filled
        http.get(path)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        answer = http.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (path, answer.status_code)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--many", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        run_workhorse(Path(tmp), None, WORKHORSE_ACCESS_LOG="false") as server,
        httpx.Client(base_url=server.base_url, timeout=120) as http,
    ):
        sign_in(http, server.api_key)
        few = add_conversations(http, server.v1, server.api_key, 10)
        list_few = timed(http, "/chat", args.repeats)
        one_few = timed(http, f"/chat/{few[-1]}", args.repeats)
        many = add_conversations(http, server.v1, server.api_key, args.many)
        list_many = timed(http, "/chat", args.repeats)
        deep = timed(http, f"/chat?before={many[args.many // 2]}", args.repeats)
        one_many = timed(http, f"/chat/{many[-1]}", args.repeats)
    print(f"GET /chat, 10 conversations:          {list_few:7.2f} ms (median)")
    print(f"GET /chat, {args.many + 10} conversations:        {list_many:7.2f} ms")
    print(f"GET /chat?before=<middle>, {args.many + 10}:      {deep:7.2f} ms")
    print(f"GET /chat/<id>, 10 conversations:     {one_few:7.2f} ms")
    print(f"GET /chat/<id>, {args.many + 10} conversations:   {one_many:7.2f} ms")
    print(
        f"ratio, list many/few: {list_many / list_few:.2f}x; deep page/few: {deep / list_few:.2f}x"
    )
    print(f"ratio, conversation page many/few: {one_many / one_few:.2f}x")


if __name__ == "__main__":
    main()
