"""The command line: ``keys`` (create prints the key alone on its last line; revoke takes
effect), ``ingest`` (a folder into a vector store, with a table of failures), help."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import openai

from tests.servers import Server, wait_for


def test_keys_create_list_revoke(server: Server) -> None:
    created = server.cli("keys", "create", "--name", "ci-bot")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("wh-")
    assert " " not in key
    assert httpx.get(server.v1 + "/models", headers={"x-api-key": key}).status_code == 200

    listed = server.cli("keys", "list")
    assert listed.returncode == 0
    assert "ci-bot" in listed.stdout
    assert key not in listed.stdout

    revoked = server.cli("keys", "revoke", "ci-bot")
    assert revoked.returncode == 0, revoked.stderr
    # The server trusts a key it checked for WORKHORSE_AUTH_CACHE_S (1 s) at most.
    wait_for(
        lambda: httpx.get(server.v1 + "/models", headers={"x-api-key": key}).status_code == 401,
        timeout=3,
        what="the revoked key to be refused",
    )
    assert "revoked" in server.cli("keys", "list").stdout


def test_revoking_unknown_key_fails_clearly(server: Server) -> None:
    result = server.cli("keys", "revoke", "no-such-key")
    assert result.returncode == 1
    assert "no active API key" in result.stderr


def test_cli_help_lists_commands(server: Server) -> None:
    result = server.cli("--help")
    assert result.returncode == 0
    for command in ("serve", "worker", "ingest", "train", "keys"):
        assert command in result.stdout


def test_ingest_indexes_a_folder_and_tables_what_failed(server: Server, tmp_path: Path) -> None:
    marker = uuid.uuid4().hex[:10]
    folder = tmp_path / "docs"
    (folder / "nested").mkdir(parents=True)
    (folder / "guide.md").write_text(f"# Guide\n\nThe ferry leaves at dawn {marker}.\n")
    (folder / "nested" / "notes.txt").write_text(f"Bring a coat for the ferry {marker}.\n")
    (folder / "nested" / "broken.pdf").write_bytes(b"%PDF-1.7 " + uuid.uuid4().bytes)
    (folder / ".hidden.txt").write_text("never uploaded")
    store = f"cli-{marker}"
    result = server.cli("ingest", str(folder), "--vector-store", store, "--url", server.base_url)
    assert result.returncode == 1, result.stderr  # one file failed
    assert "2 indexed" in result.stdout
    assert "1 failed" in result.stdout
    assert "broken.pdf" in result.stdout
    assert "not a valid PDF" in result.stdout
    assert ".hidden" not in result.stdout
    with openai.OpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0) as client:
        [found] = [s for s in client.vector_stores.list(limit=100) if s.name == store]
        hits = client.vector_stores.search(found.id, query=f"ferry {marker}").data
        assert {h.filename for h in hits} == {"guide.md", "notes.txt"}
    again = server.cli(
        "ingest", str(folder / "guide.md"), "--vector-store", store, "--url", server.base_url
    )
    assert again.returncode == 0, again.stderr  # the same store, found by name


def test_limits_on_the_command_line_and_the_usage_table(server: Server) -> None:
    project = server.cli("projects", "create", f"cli-{uuid.uuid4().hex[:6]}", "--rpm", "50")
    assert project.returncode == 0, project.stderr
    assert "rpm 50" in project.stdout
    project_id = project.stdout.split()[2]
    key = server.cli(
        "keys",
        "create",
        "--name",
        "cli-limited",
        "--project",
        project_id,
        "--scopes",
        "chat,files",
        "--rpm",
        "60",
        "--tpm",
        "20000",
        "--budget",
        "1000000/month",
    )
    assert key.returncode == 0, key.stderr
    assert "rpm 60, tpm 20000, 1000000/month" in key.stdout
    secret = key.stdout.strip().splitlines()[-1]
    key_id = key.stdout.split()[3]
    updated = server.cli("keys", "update", key_id, "--budget", "5000/day,soft")
    assert "rpm 60, tpm 20000, 5000/day,soft" in updated.stdout
    lifted = server.cli("projects", "update", project_id, "--no-limits")
    assert "limits none" in lifted.stdout
    bad = server.cli("keys", "update", key_id, "--budget", "lots")
    assert bad.returncode == 2
    assert "--budget" in bad.stderr
    with openai.OpenAI(base_url=server.v1, api_key=secret, max_retries=0) as client:
        client.chat.completions.create(
            model="smollm2-135m-instruct",
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=3,
        )
    table = server.cli("usage", "--since", "1h", "--by", "key,api")
    assert table.returncode == 0, table.stderr
    rows = [line for line in table.stdout.splitlines() if line.startswith(key_id)]
    assert {row.split()[1] for row in rows} >= {"completions", "http"}
    assert server.cli("usage", "--by", "colour").returncode == 2
