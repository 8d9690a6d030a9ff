"""Limits shared by two server processes on one PostgreSQL: a limit of N admits exactly N
in the window whichever replica the requests reach, and a budget is never overspent."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import Server, run_workhorse

MODEL = "smollm2-135m-instruct"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, new_database: Callable[[], str]
) -> Iterator[tuple[Server, Server]]:
    url = new_database()
    tmp: Path = tmp_path_factory.mktemp("replicas")
    with run_workhorse(tmp, url) as first, run_workhorse(tmp, url, initial_key=False) as second:
        yield first, second


def limited_key(server: Server, **limits: Any) -> str:
    created = httpx.post(
        server.v1 + "/admin/keys",
        json={"name": f"shared-{uuid.uuid4().hex[:6]}", "limits": limits},
        headers={"Authorization": f"Bearer {server.admin_key}"},
    )
    assert created.status_code == 200, created.text
    secret: str = created.json()["key"]
    return secret


def test_two_replicas_admit_exactly_the_limit(replicas: tuple[Server, Server]) -> None:
    first, second = replicas
    key = limited_key(first, rpm=15)
    urls = [server.v1 + "/models" for server in (first, second)] * 20

    def call(url: str) -> int:
        return httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(call, urls))
    assert statuses.count(200) == 15
    assert statuses.count(429) == 25


def test_a_budget_shared_by_two_replicas_is_never_overspent(
    replicas: tuple[Server, Server],
) -> None:
    first, second = replicas
    budget = 400
    key = limited_key(first, budget={"tokens": budget, "period": "day"})
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 16}

    def call(server: Server) -> httpx.Response:
        return httpx.post(
            server.v1 + "/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
            timeout=120,
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(call, [first, second] * 6))
    spent = sum(a.json()["usage"]["total_tokens"] for a in answers if a.status_code == 200)
    refused = [a for a in answers if a.status_code == 429]
    assert spent <= budget
    assert refused, "the budget should have run out"
    assert {a.json()["error"]["code"] for a in refused} == {"budget_exceeded"}
