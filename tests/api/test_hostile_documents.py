"""Hostile documents fail only themselves: each ends ``failed`` with its reason, while the
process that ingests (the server in the embedded mode, ``workhorse worker`` scaled out)
keeps its memory, a chat stream completes meanwhile, and the next ordinary file indexes.

The documents are made by ``tests.knowledge.hostile``: Office zip bombs just under and
just over the inflated-size cap of a part, one under the cap that compresses like a real
document (so only the parser's memory limit stops it), a billion laughs, a million rows,
PDF flate bomb and page-tree loop, a million nested HTML elements, a 500 MB line of CSV,
JSON nested 100,000 deep.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import openai
import pytest
from sqlalchemy import text

from tests.conftest import scaled_env
from tests.knowledge import hostile
from tests.servers import Server, run_worker, run_workhorse, wait_for
from workhorse.store.db import open_database

MiB = 1024 * 1024
MODEL = "smollm2-135m-instruct"
CAP = 512 * MiB  # WORKHORSE_PARSE_MAX_MEMBER_BYTES, its default
RATIO = "over the limit of 100 (WORKHORSE_PARSE_MAX_COMPRESSION_RATIO): a zip bomb"
OVER = "inflates to 513 MiB, over the limit of 512 MiB (WORKHORSE_PARSE_MAX_MEMBER_BYTES)"

ATTEMPTS = "SELECT file_id, attempts FROM vector_store_files WHERE vector_store_id = :s"

CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "under.docx": (lambda p: hostile.docx_bomb(p, CAP - MiB), RATIO),
    "over.docx": (lambda p: hostile.docx_bomb(p, CAP + MiB), OVER),
    "dense.docx": (
        lambda p: hostile.docx_bomb(p, 500 * MiB, ratio_friendly=True),
        "parsing needed more than 2 GiB of memory (limit: WORKHORSE_PARSE_MEMORY_BYTES)",
    ),
    "under.pptx": (lambda p: hostile.pptx_bomb(p, CAP - MiB), RATIO),
    "over.pptx": (lambda p: hostile.pptx_bomb(p, CAP + MiB), OVER),
    "under.xlsx": (lambda p: hostile.xlsx_bomb(p, CAP - MiB), RATIO),
    "over.xlsx": (lambda p: hostile.xlsx_bomb(p, CAP + MiB), OVER),
    "laughs.docx": (
        hostile.docx_billion_laughs,
        "its part word/document.xml declares a DOCTYPE or entities",
    ),
    "rows.xlsx": (
        lambda p: hostile.xlsx_rows(p, 1_000_000),
        "has more than 250,000 rows (limit: WORKHORSE_PARSE_MAX_ROWS)",
    ),
    "flate.pdf": (
        lambda p: hostile.pdf_flate_bomb(p, 1024 * MiB),
        "page 1 inflates past pypdf's decompression limit (a flate bomb)",
    ),
    "loop.pdf": (hostile.pdf_page_tree_loop, "Detected cyclic page references"),
    "nested.html": (
        lambda p: hostile.html_nested(p, 1_000_000),
        "nests elements more than 256 deep (limit: WORKHORSE_PARSE_MAX_DEPTH)",
    ),
    "line.csv": (
        lambda p: hostile.csv_single_line(p, 500_000_000),
        "line 1 is longer than 1 MiB (limit: WORKHORSE_PARSE_MAX_LINE_BYTES)",
    ),
    "deep.json": (
        lambda p: hostile.json_deep(p, 100_000),
        "JSON nested more than 256 levels deep (limit: WORKHORSE_PARSE_MAX_DEPTH)",
    ),
}


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    return {name: make(folder / name) for name, (make, _) in CASES.items()}


@pytest.fixture(scope="module")
def target(
    storage_mode: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[Server, int, str]]:
    """A server with the default limits, the pid of the process that parses for it, and
    its database URL."""
    tmp = tmp_path_factory.mktemp("hostile-server")
    if storage_mode == "sqlite":
        with run_workhorse(tmp) as server:
            yield server, server.process.pid, f"sqlite:///{server.data_dir / 'workhorse.db'}"
        return
    make: Callable[[], str] = request.getfixturevalue("new_database")
    url = make()
    env = {**scaled_env(request), "WORKHORSE_INGEST_WORKERS": "0"}
    with (
        run_workhorse(tmp, url, **env) as server,
        run_worker(server, WORKHORSE_INGEST_WORKERS="2") as worker,
    ):
        yield server, worker.pid, url


def resident(pid: int, field: str) -> int:
    """``VmRSS`` or ``VmHWM`` (the peak since the last reset) of ``pid``, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


def attempts(database_url: str, store_id: str) -> dict[str, int]:
    async def query() -> dict[str, int]:
        db = open_database(database_url)
        try:
            async with db.engine.connect() as conn:
                rows = await conn.execute(text(ATTEMPTS), {"s": store_id})
                return {str(file_id): int(count) for file_id, count in rows}
        finally:
            await db.dispose()

    return asyncio.run(query())


def stream_a_chat(client: openai.OpenAI) -> str:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Tell me about lighthouses."}],
        max_tokens=24,
        stream=True,
        timeout=120,
    )
    finish = None
    for event in stream:
        if event.choices and event.choices[0].finish_reason:
            finish = event.choices[0].finish_reason
    assert finish in ("stop", "length")
    return finish


@pytest.mark.slow
def test_hostile_documents_fail_alone_while_serving_goes_on(
    target: tuple[Server, int, str], hostile_files: dict[str, Path]
) -> None:
    server, pid, database_url = target
    client = openai.OpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0)
    ids = {}
    for name, path in hostile_files.items():
        with path.open("rb") as content:
            ids[name] = client.files.create(
                file=(name, content), purpose="assistants", timeout=600
            ).id
    before = resident(pid, "VmRSS")
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM counts from here
    store = client.vector_stores.create(name="hostile", file_ids=list(ids.values()))

    streams = 0
    while client.vector_stores.retrieve(store.id).file_counts.in_progress:
        assert httpx.get(server.base_url + "/healthz", timeout=5).status_code == 200
        stream_a_chat(client)
        streams += 1
    assert streams >= 1

    for name, (_, reason) in CASES.items():
        state = client.vector_stores.files.retrieve(ids[name], vector_store_id=store.id)
        assert state.status == "failed", name
        assert state.last_error is not None
        assert state.last_error.code == "invalid_file", (name, state.last_error)
        assert reason in state.last_error.message, (name, state.last_error.message)
        assert state.last_error.message.startswith(name), state.last_error.message
    assert set(attempts(database_url, store.id).values()) == {1}  # none was tried again
    grown = resident(pid, "VmHWM") - before
    assert grown < 256 * MiB, f"the ingesting process grew by {grown / MiB:.0f} MiB"

    ordinary = client.files.create(
        file=("harbour.md", io.BytesIO(b"# Harbour\n\nThe ferry to the island leaves at nine.")),
        purpose="assistants",
    ).id
    client.vector_stores.files.create(vector_store_id=store.id, file_id=ordinary)
    wait_for(
        lambda: (
            client.vector_stores.files.retrieve(ordinary, vector_store_id=store.id).status
            != "in_progress"
        ),
        timeout=120,
        what="the ordinary file to be ingested",
    )
    done = client.vector_stores.files.retrieve(ordinary, vector_store_id=store.id)
    assert done.status == "completed", done.last_error
    found = client.vector_stores.search(store.id, query="When does the ferry leave?")
    assert "nine" in found.data[0].content[0].text
