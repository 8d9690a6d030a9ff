"""A database made by the release before projects: after the migration, every resource is
still visible to the key that made it and only to its project, and the install's first key
is its admin key. Driven through a real server and the openai SDK, in both modes."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import openai
import pytest
from sqlalchemy import create_engine, text

from tests.servers import run_workhorse
from workhorse.store.api_keys import KEY_PREFIX, hash_key
from workhorse.store.db import migrate, sync_url

BEFORE_PROJECTS = "0010"


def _old_key(conn: object, name: str) -> tuple[str, str]:
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = "key_" + secrets.token_hex(12)
    conn.execute(  # type: ignore[attr-defined]
        text(
            "INSERT INTO api_keys (id, name, key_hash, prefix, created_at) "
            "VALUES (:id, :name, :hash, :prefix, :now)"
        ),
        {
            "id": key_id,
            "name": name,
            "hash": hash_key(secret),
            "prefix": secret[:10],
            "now": datetime.now(UTC),
        },
    )
    return key_id, secret


def _old_conversation(conn: object, owner: str) -> str:
    conversation_id = "conv_" + secrets.token_hex(12)
    conn.execute(  # type: ignore[attr-defined]
        text(
            "INSERT INTO conversations (id, owner, metadata_json, created_at) "
            "VALUES (:id, :owner, :meta, :now)"
        ),
        {
            "id": conversation_id,
            "owner": owner,
            "meta": json.dumps({"by": owner}),
            "now": datetime.now(UTC),
        },
    )
    return conversation_id


@pytest.fixture
def old_database(storage_mode: str, tmp_path: Path, new_database: Callable[[], str]) -> str:
    if storage_mode == "sqlite":
        (tmp_path / "data").mkdir()
        return f"sqlite:///{tmp_path / 'data' / 'workhorse.db'}"
    return new_database()


def test_each_old_key_becomes_a_project_that_keeps_what_it_made(
    old_database: str, tmp_path: Path
) -> None:
    migrate(old_database, BEFORE_PROJECTS)
    engine = create_engine(sync_url(old_database))
    with engine.begin() as conn:
        first_id, first = _old_key(conn, "first")
        second_id, second = _old_key(conn, "second")
        conn.execute(
            text(
                "INSERT INTO markers (name, value, created_at) VALUES ('bootstrap_api_key', :v, :t)"
            ),
            {"v": first_id, "t": datetime.now(UTC)},
        )
        mine = _old_conversation(conn, first_id)
        theirs = _old_conversation(conn, second_id)
    engine.dispose()

    data_dir = tmp_path / "data"
    with run_workhorse(tmp_path, old_database, data_dir=data_dir, initial_key=False) as server:
        with openai.OpenAI(base_url=server.v1, api_key=first, max_retries=0) as one:
            assert one.conversations.retrieve(mine).metadata == {"by": first_id}
            with pytest.raises(openai.NotFoundError):
                one.conversations.retrieve(theirs)
        with openai.OpenAI(base_url=server.v1, api_key=second, max_retries=0) as two:
            assert two.conversations.retrieve(theirs).metadata == {"by": second_id}
            with pytest.raises(openai.NotFoundError):
                two.conversations.retrieve(mine)
        keys = httpx.get(server.v1 + "/admin/keys", headers={"Authorization": f"Bearer {first}"})
        assert keys.status_code == 200  # the install's first key is its admin key
        by_id = {k["id"]: k for k in keys.json()["data"]}
        assert "admin" in by_id[first_id]["scopes"]
        assert "admin" not in by_id[second_id]["scopes"]
        assert by_id[first_id]["project_id"] != by_id[second_id]["project_id"]
        refused = httpx.get(
            server.v1 + "/admin/keys", headers={"Authorization": f"Bearer {second}"}
        )
        assert refused.status_code == 403
        # No other first key was made: the install already had one.
        assert not (data_dir / "initial-api-key").exists()
