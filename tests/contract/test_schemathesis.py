"""The OpenAPI document is the contract: schemathesis finds no gap between it and the server.

Every check schemathesis has (server errors, documented statuses and content types,
response schemas, ``Allow`` on 405, schema-violating data refused, schema-valid data
accepted), its coverage, fuzzing and stateful phases (ids flow through the document's
``links``), over every path, SOAP, uploads and fine-tuning included, with a fixed seed, in
each storage mode. Every warning fails the run too (``schemathesis.toml`` lists the rules a
schema cannot state, each with its reason). ``hooks.py`` writes XML and form bodies as
docs/formats.md says. Part of ``make test``; alone with ``make contract``
(``WORKHORSE_CONTRACT_EXAMPLES=200`` for a longer run).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import scaled_env
from tests.servers import REPO, Server, run_worker, run_workhorse

HERE = Path(__file__).resolve().parent
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
SEED = 20261202
EXAMPLES = int(os.environ.get("WORKHORSE_CONTRACT_EXAMPLES", "10"))

pytestmark = [pytest.mark.slow, pytest.mark.contract]


@pytest.fixture(scope="module")
def fresh_server(
    storage_mode: str,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Server]:
    """A server and database of its own: the run leaves thousands of objects behind, and
    it calls with the install's first (admin) key."""
    tmp = tmp_path_factory.mktemp("contract")
    # Short answers: the run is about shapes, not text, and thousands of requests generate.
    short = {"WORKHORSE_DEFAULT_MAX_TOKENS": "8"}
    if storage_mode == "sqlite":
        with run_workhorse(tmp, **short) as running:
            yield running
        return
    database_url: str = request.getfixturevalue("new_database")()
    with (
        run_workhorse(tmp, database_url, **short, **scaled_env(request)) as running,
        run_worker(running),
    ):
        yield running


@pytest.mark.timeout(1800)
def test_a_fuzzer_finds_no_gap_between_the_document_and_the_server(
    fresh_server: Server, tmp_path: Path
) -> None:
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "run",
        fresh_server.base_url + "/openapi.json",
        "--checks",
        "all",
        "--header",
        f"Authorization: Bearer {fresh_server.admin_key}",
        "--seed",
        str(SEED),
        "--max-examples",
        str(EXAMPLES),
        "--no-shrink",
        # A request may wait for the model behind others (one sequence at a time).
        "--request-timeout",
        "120",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    admin = {"Authorization": f"Bearer {fresh_server.admin_key}"}
    keys = httpx.get(fresh_server.v1 + "/admin/keys", headers=admin).json()["data"]
    (run_key,) = [k for k in keys if fresh_server.admin_key.startswith(k["prefix"])]
    env = {
        **os.environ,
        "WORKHORSE_CONTRACT_KEY_ID": run_key["id"],
        "WORKHORSE_CONTRACT_PROJECT_ID": run_key["project_id"],
        "SCHEMATHESIS_HOOKS": "tests.contract.hooks",
        "PYTHONPATH": str(REPO),
        "NO_COLOR": "1",
    }
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1700, check=False
    )
    output = result.stdout + result.stderr
    # Long reproduction commands are cut so the failures' names and reasons fit.
    report = "\n".join(line[:300] for line in output.splitlines())
    assert result.returncode == 0, report[-30000:]
    assert "No issues found" in output or " passed" in output, output[-5000:]
