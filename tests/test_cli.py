"""``workhorse keys``: create prints the key alone on its last line; revoke takes effect."""

from __future__ import annotations

import httpx

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
    for command in ("serve", "keys"):
        assert command in result.stdout
