"""The request log on both databases: bounded by count and age exactly, filtered, paged."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from workhorse.store.db import Database, migrate, open_database
from workhorse.store.request_log import Entry, Filters, RequestLog

BASE = Entry(
    request_id="req_0",
    trace_id=None,
    at_ms=1_000_000,
    method="POST",
    route="/v1/chat/completions",
    path="/v1/chat/completions",
    status=200,
    duration_ms=1.5,
    content_type="application/json",
    bytes_in=10,
    bytes_out=20,
    api_key_id="key_a",
    api_key_name="a",
    project_id="proj_a",
    model="m",
    input_tokens=3,
    output_tokens=4,
    idempotency=None,
    client_retries=0,
    disconnected=False,
    error_type=None,
    error_code=None,
    error_param=None,
    error_message=None,
    created_json=None,
    captured_json=None,
)


@pytest.fixture
def database(
    storage_mode: str, tmp_path: Path, new_database: Callable[[], str]
) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'log.db'}" if storage_mode == "sqlite" else new_database()
    migrate(url)
    db = open_database(url)
    yield db
    asyncio.run(db.dispose())


def entries(count: int, **changes: object) -> list[Entry]:
    return [
        replace(BASE, request_id=f"req_{i}", at_ms=BASE.at_ms + i, **changes)  # type: ignore[arg-type]
        for i in range(count)
    ]


def test_pruning_keeps_exactly_the_newest_records(database: Database) -> None:
    log = RequestLog(database)

    async def run() -> tuple[int, list[str]]:
        await log.add(entries(30))
        gone = await log.prune(max_records=10, older_than_ms=0)
        kept = await log.page(Filters(), limit=100)
        return gone, [r.entry.request_id for r in kept]

    gone, kept = asyncio.run(run())
    assert gone == 20
    assert kept == [f"req_{i}" for i in range(29, 19, -1)]


def test_pruning_drops_records_past_their_age(database: Database) -> None:
    log = RequestLog(database)

    async def run() -> list[str]:
        await log.add(entries(5))
        await log.prune(max_records=100, older_than_ms=BASE.at_ms + 3)
        return [r.entry.request_id for r in await log.page(Filters(), limit=100)]

    assert asyncio.run(run()) == ["req_4", "req_3"]


def test_filters_and_pages(database: Database) -> None:
    log = RequestLog(database)
    failed = replace(BASE, status=415, error_code="unsupported_media_type", api_key_id="key_b")
    gone = replace(BASE, disconnected=True, model="other")

    async def run() -> None:
        await log.add([*entries(7), failed, gone])
        assert [r.entry.status for r in await log.page(Filters(status_class=4), limit=9)] == [415]
        failures = await log.page(Filters(failed=True), limit=9)
        assert [(r.entry.status, r.entry.disconnected) for r in failures] == [
            (200, True),
            (415, False),
        ]
        assert len(await log.page(Filters(api_key_id="key_b"), limit=9)) == 1
        assert len(await log.page(Filters(model="other"), limit=9)) == 1
        assert len(await log.page(Filters(error_code="unsupported_media_type"), limit=9)) == 1
        window = Filters(since_ms=BASE.at_ms + 2, until_ms=BASE.at_ms + 5)
        assert [r.entry.request_id for r in await log.page(window, limit=9)] == [
            "req_4",
            "req_3",
            "req_2",
        ]
        seen: list[int] = []
        before = None
        while True:
            page = await log.page(Filters(), limit=4, before_seq=before)
            if not page:
                break
            seen += [r.seq for r in page]
            before = page[-1].seq
        assert seen == sorted(seen, reverse=True)
        assert len(set(seen)) == 9
        newer = await log.newer(Filters(), after_seq=seen[2], limit=10)
        assert [r.seq for r in newer] == [seen[1], seen[0]]
        found = await log.get("req_3")
        assert found is not None
        assert found.entry == replace(BASE, request_id="req_3", at_ms=BASE.at_ms + 3)

    asyncio.run(run())
