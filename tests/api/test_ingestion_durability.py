"""Ingestion survives its worker: kill -9 mid-file, restart, and the file completes with
every chunk exactly once; serving stays responsive while a large file is indexed.

Embedded mode kills the server (its worker threads die with it); scaled-out mode kills
the ``workhorse worker`` process and starts another.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from tests.conftest import scaled_env
from tests.servers import Server, free_port, run_worker, run_workhorse, wait_for
from workhorse.knowledge.chunk import AUTO_MAX_TOKENS, AUTO_OVERLAP_TOKENS, WordPieceCounter, chunk
from workhorse.knowledge.parse import parse
from workhorse.providers.registry import bundled_embedding_model_path
from workhorse.store.db import open_database

LEASE = {"WORKHORSE_INGEST_LEASE_S": "2", "WORKHORSE_INGEST_REQUEUE_AFTER_S": "4"}
SENTENCES = [
    "The lighthouse keeper climbs the stairs every evening to light the lamp.",
    "Ships passing the rocks at night watch for the beam sweeping the water.",
    "In winter the storms shake the windows and the keeper writes in his log.",
    "Supplies arrive by boat once a month when the sea is calm enough.",
]


def long_document(paragraphs: int) -> bytes:
    lines = [
        f"{SENTENCES[i % 4]} Entry {i} of the log. {SENTENCES[(i + 1) % 4]}"
        for i in range(paragraphs)
    ]
    return ("\n\n".join(lines) + f"\n\n{uuid.uuid4()}\n").encode()


def expected_chunks(tmp: Path, content: bytes) -> int:
    path = tmp / "expected.txt"
    path.write_bytes(content)
    counter = WordPieceCounter(bundled_embedding_model_path() / "tokenizer.json")
    blocks = parse(path, "log.txt")
    return len(
        chunk(blocks, counter, max_tokens=AUTO_MAX_TOKENS, overlap_tokens=AUTO_OVERLAP_TOKENS)
    )


def stored_chunks(database_url: str, store_id: str, file_id: str) -> tuple[int, int]:
    """(rows, distinct chunk indexes) of one file in the chunk table."""

    async def count() -> tuple[int, int]:
        db = open_database(database_url)
        try:
            async with db.engine.connect() as conn:
                row = (
                    await conn.execute(
                        text(
                            "SELECT count(*), count(DISTINCT chunk_index) FROM knowledge_chunks "
                            "WHERE vector_store_id = :s AND file_id = :f"
                        ),
                        {"s": store_id, "f": file_id},
                    )
                ).one()
                return int(row[0]), int(row[1])
        finally:
            await db.dispose()

    return asyncio.run(count())


def sdk(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0)


def status(server: Server, store_id: str, file_id: str) -> str:
    return str(sdk(server).vector_stores.files.retrieve(file_id, vector_store_id=store_id).status)


@pytest.mark.slow
def test_kill_9_during_ingestion_then_restart_completes_each_chunk_once(
    tmp_path: Path, storage_mode: str, request: pytest.FixtureRequest
) -> None:
    content = long_document(600)
    data_dir = tmp_path / "data"
    if storage_mode == "sqlite":
        url = f"sqlite:///{data_dir / 'workhorse.db'}"
        with run_workhorse(tmp_path, None, data_dir=data_dir, **LEASE) as first:
            store_id, file_id = start_ingesting(first, content, url)
            first.process.kill()
            first.process.wait()
        with run_workhorse(tmp_path, None, data_dir=data_dir, **LEASE) as second:
            wait_completed(second, store_id, file_id)
            assert taken_over(second.base_url + "/metrics") == 1
    else:
        make: Callable[[], str] = request.getfixturevalue("new_database")
        url = make()
        env = {**scaled_env(request), **LEASE, "WORKHORSE_INGEST_WORKERS": "0"}
        with run_workhorse(tmp_path, url, data_dir=data_dir, **env) as server:
            with run_worker(server, WORKHORSE_INGEST_WORKERS="1") as worker:
                store_id, file_id = start_ingesting(server, content, url)
                worker.kill()
                worker.wait()
            port = free_port()
            with run_worker(server, WORKHORSE_INGEST_WORKERS="1", WORKHORSE_METRICS_PORT=str(port)):
                wait_completed(server, store_id, file_id)
                assert taken_over(f"http://127.0.0.1:{port}/metrics") == 1
    rows, distinct = stored_chunks(url, store_id, file_id)
    assert rows == distinct == expected_chunks(tmp_path, content)


@pytest.mark.slow
def test_a_job_interrupted_on_every_run_ends_failed_instead_of_looping(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    url = f"sqlite:///{data_dir / 'workhorse.db'}"
    once = {**LEASE, "WORKHORSE_INGEST_MAX_ATTEMPTS": "1"}
    with run_workhorse(tmp_path, None, data_dir=data_dir, **once) as first:
        store_id, file_id = start_ingesting(first, long_document(600), url)
        first.process.kill()
        first.process.wait()
    with run_workhorse(tmp_path, None, data_dir=data_dir, **once) as second:
        wait_for(
            lambda: status(second, store_id, file_id) != "in_progress",
            timeout=120,
            what="the interrupted job to be settled",
        )
        state = sdk(second).vector_stores.files.retrieve(file_id, vector_store_id=store_id)
    assert state.status == "failed"
    assert state.last_error is not None
    assert state.last_error.message == (
        "ingestion was interrupted once (the process running it stopped each time);"
        " it is not tried again"
    )


def taken_over(metrics_url: str) -> float:
    """How many ingestion jobs the process behind ``metrics_url`` took over."""
    for family in text_string_to_metric_families(httpx.get(metrics_url).text):
        for sample in family.samples:
            wanted = sample.name == "workhorse_jobs_taken_over_total"
            if wanted and sample.labels == {"type": "ingestion"}:
                return sample.value
    return 0.0


def start_ingesting(server: Server, content: bytes, database_url: str) -> tuple[str, str]:
    """Upload and add the file; return once a worker has claimed its job."""
    client = sdk(server)
    file_id = client.files.create(file=("log.txt", io.BytesIO(content)), purpose="assistants").id
    store = client.vector_stores.create(name="durable", file_ids=[file_id])
    wait_for(
        lambda: claimed(database_url, store.id, file_id),
        timeout=60,
        what="a worker to claim the job",
    )
    assert status(server, store.id, file_id) == "in_progress"
    return store.id, file_id


def claimed(database_url: str, store_id: str, file_id: str) -> bool:
    async def check() -> bool:
        db = open_database(database_url)
        try:
            async with db.engine.connect() as conn:
                row = (
                    await conn.execute(
                        text(
                            "SELECT attempts FROM vector_store_files "
                            "WHERE vector_store_id = :s AND file_id = :f"
                        ),
                        {"s": store_id, "f": file_id},
                    )
                ).first()
                return row is not None and int(row[0]) >= 1
        finally:
            await db.dispose()

    return asyncio.run(check())


def wait_completed(server: Server, store_id: str, file_id: str) -> None:
    wait_for(
        lambda: status(server, store_id, file_id) != "in_progress",
        timeout=300,
        what="the file to be ingested after the restart",
    )
    state = sdk(server).vector_stores.files.retrieve(file_id, vector_store_id=store_id)
    assert state.status == "completed", state.last_error


def test_serving_stays_responsive_while_a_large_file_is_indexed(
    server: Server, client: openai.OpenAI
) -> None:
    file_id = client.files.create(
        file=("big-log.txt", io.BytesIO(long_document(800))), purpose="assistants"
    ).id
    store = client.vector_stores.create(name="busy", file_ids=[file_id])
    served = 0
    while status(server, store.id, file_id) == "in_progress":
        assert httpx.get(server.base_url + "/healthz", timeout=5).status_code == 200
        answer = client.chat.completions.create(
            model="smollm2-135m-instruct",
            messages=[{"role": "user", "content": "Say hi."}],
            max_tokens=4,
            timeout=60,
        )
        assert answer.choices[0].message.content is not None
        served += 1
    assert served >= 1  # requests were answered while the file was being indexed
    assert status(server, store.id, file_id) == "completed"
