"""The admin API: projects and keys over raw HTTP, SOAP, idempotent replays that never
store a secret, and the keys it makes working (or refused) through the openai SDK."""

from __future__ import annotations

import socket
import time
import uuid
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import create_engine, text

from tests.api.test_soap import soap_client
from tests.servers import Server, wait_for

MODEL = "smollm2-135m-instruct"


def admin(server: Server) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.admin_key}"}


def post(server: Server, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(
        server.v1 + "/admin" + path, json=body, headers={**admin(server), **headers}, timeout=30
    )


def new_project(server: Server) -> dict[str, Any]:
    created = post(server, "/projects", {"name": f"app-{uuid.uuid4().hex[:6]}"})
    assert created.status_code == 200, created.text
    project: dict[str, Any] = created.json()
    return project


def new_key(server: Server, **fields: Any) -> dict[str, Any]:
    created = post(server, "/keys", {"name": f"k-{uuid.uuid4().hex[:6]}", **fields})
    assert created.status_code == 200, created.text
    key: dict[str, Any] = created.json()
    return key


def sdk(server: Server, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.v1, api_key=key, max_retries=0)


def test_projects_are_created_listed_renamed_and_archived(server: Server) -> None:
    project = new_project(server)
    assert project["object"] == "project"
    assert project["status"] == "active"
    assert project["id"].startswith("proj_")
    listed = httpx.get(server.v1 + "/admin/projects", headers=admin(server)).json()
    assert project["id"] in {p["id"] for p in listed["data"]}
    renamed = post(server, f"/projects/{project['id']}", {"name": "renamed"}).json()
    assert renamed["name"] == "renamed"
    key = new_key(server, project_id=project["id"])
    archived = post(server, f"/projects/{project['id']}/archive", {})
    assert archived.json()["status"] == "archived"
    with sdk(server, key["key"]) as client, pytest.raises(openai.AuthenticationError):
        client.models.list()  # the archive revoked its keys, here at once
    active = httpx.get(server.v1 + "/admin/projects", headers=admin(server)).json()["data"]
    assert project["id"] not in {p["id"] for p in active}
    every = httpx.get(
        server.v1 + "/admin/projects", params={"include_archived": "true"}, headers=admin(server)
    ).json()["data"]
    assert project["id"] in {p["id"] for p in every}
    refused = post(server, "/keys", {"name": "late", "project_id": project["id"]})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "project_archived"


def test_a_key_is_shown_once_and_listed_without_its_secret(server: Server) -> None:
    project = new_project(server)
    key = new_key(server, project_id=project["id"], scopes=["chat", "read"])
    assert key["key"].startswith("wh-")
    assert key["prefix"] == key["key"][:10]
    assert key["scopes"] == ["chat", "read"]
    assert key["status"] == "active"
    listed = httpx.get(
        server.v1 + "/admin/keys", params={"project_id": project["id"]}, headers=admin(server)
    )
    assert [k["id"] for k in listed.json()["data"]] == [key["id"]]
    assert key["key"] not in listed.text
    one = httpx.get(server.v1 + f"/admin/keys/{key['id']}", headers=admin(server)).json()
    assert "key" not in one
    assert one["project_id"] == project["id"]


def test_keys_of_one_project_share_its_resources_and_others_get_404(server: Server) -> None:
    project = new_project(server)
    first = new_key(server, project_id=project["id"])
    second = new_key(server, project_id=project["id"])
    stranger = new_key(server)  # a project of its own
    with sdk(server, first["key"]) as one:
        conversation = one.conversations.create(metadata={"by": "first"})
    with sdk(server, second["key"]) as two:
        assert two.conversations.retrieve(conversation.id).metadata == {"by": "first"}
    with sdk(server, stranger["key"]) as other, pytest.raises(openai.NotFoundError):
        other.conversations.retrieve(conversation.id)


def test_scopes_are_checked_before_any_work(server: Server) -> None:
    key = new_key(server, scopes=["embeddings"])
    with sdk(server, key["key"]) as client:
        assert client.embeddings.create(model="all-minilm-l6-v2", input="hi").data
        with pytest.raises(openai.PermissionDeniedError) as refused:
            client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=1
            )
        error = refused.value.body
        assert isinstance(error, dict)
        assert error["code"] == "insufficient_scope"
        assert "'chat'" in error["message"]
        with pytest.raises(openai.PermissionDeniedError):
            client.files.list()
        assert client.models.list().data  # any key may list models
    # No body is read for a key that may not send it: 403 before the 413 a body would earn.
    host, port = server.base_url.removeprefix("http://").split(":")
    head = (
        "POST /v1/files HTTP/1.1\r\nHost: test\r\n"
        f"Authorization: Bearer {key['key']}\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {10**12}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode())
        answer = b""
        while b"}}" not in answer:  # the end of the error envelope
            answer += sock.recv(65536)
    assert answer.split(b" ", 2)[1] == b"403"
    assert b"insufficient_scope" in answer


def test_the_read_scope_allows_every_get_and_nothing_else(server: Server) -> None:
    reader = new_key(server, scopes=["read"])
    with sdk(server, reader["key"]) as client:
        assert client.files.list().data == []
        assert client.vector_stores.list().data == []
        with pytest.raises(openai.PermissionDeniedError):
            client.conversations.create()
    admin_only = httpx.get(
        server.v1 + "/admin/keys", headers={"Authorization": f"Bearer {reader['key']}"}
    )
    assert admin_only.status_code == 403
    assert "admin" in admin_only.json()["error"]["message"]


def test_a_key_limited_to_models_gets_403_naming_the_model(server: Server) -> None:
    key = new_key(server, models=[MODEL])
    with sdk(server, key["key"]) as client:
        with pytest.raises(openai.PermissionDeniedError) as refused:
            client.embeddings.create(model="all-minilm-l6-v2", input="hi")
        error = refused.value.body
        assert isinstance(error, dict)
        assert error["code"] == "model_not_allowed"
        assert "all-minilm-l6-v2" in error["message"]
        assert error["param"] == "model"
        assert [m.id for m in client.models.list().data] == [MODEL]
        with pytest.raises(openai.PermissionDeniedError):
            client.models.retrieve("all-minilm-l6-v2")
        answer = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=1
        )
        assert answer.choices
    updated = post(server, f"/keys/{key['id']}", {"models": None})
    assert updated.status_code == 200
    assert updated.json()["models"] is None
    with sdk(server, key["key"]) as client:
        assert client.embeddings.create(model="all-minilm-l6-v2", input="hi").data


def test_an_expired_key_is_refused(server: Server) -> None:
    key = new_key(server, expires_at=int(time.time()) + 3600)
    with sdk(server, key["key"]) as client:
        assert client.models.list().data
    past = post(server, f"/keys/{key['id']}", {"expires_at": int(time.time()) - 1})
    assert past.json()["status"] == "expired"
    with sdk(server, key["key"]) as client, pytest.raises(openai.AuthenticationError):
        client.models.list()
    refused = post(server, "/keys", {"name": "old", "expires_at": int(time.time()) - 10})
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "expires_at"


def test_a_rotated_key_works_until_its_grace_period_ends_then_401(server: Server) -> None:
    key = new_key(server)
    rotated = post(server, f"/keys/{key['id']}/rotate", {"grace_period_seconds": 2}).json()
    assert rotated["id"] == key["id"]
    assert rotated["key"] != key["key"]
    with sdk(server, rotated["key"]) as new, sdk(server, key["key"]) as old:
        assert new.models.list().data
        assert old.models.list().data  # within the grace period

        def refused() -> bool:
            try:
                old.models.list()
            except openai.AuthenticationError:
                return True
            return False

        wait_for(refused, timeout=15, what="the old secret's grace period to end")
        assert new.models.list().data


def test_a_revoked_key_is_refused_at_once_on_this_replica(server: Server) -> None:
    key = new_key(server)
    with sdk(server, key["key"]) as client:
        assert client.models.list().data
        revoked = httpx.delete(server.v1 + f"/admin/keys/{key['id']}", headers=admin(server))
        assert revoked.json() == {"id": key["id"], "object": "api_key.deleted", "deleted": True}
        with pytest.raises(openai.AuthenticationError):
            client.models.list()
    listed = httpx.get(server.v1 + f"/admin/keys/{key['id']}", headers=admin(server)).json()
    assert listed["status"] == "revoked"


def test_the_last_admin_key_is_kept(server: Server) -> None:
    own = httpx.get(server.v1 + "/admin/keys", headers=admin(server)).json()["data"]
    admins = [k for k in own if "admin" in k["scopes"] and k["status"] == "active"]
    if len(admins) != 1:
        pytest.skip("another admin key exists on this server")
    refused = httpx.delete(server.v1 + f"/admin/keys/{admins[0]['id']}", headers=admin(server))
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "last_admin_key"


def test_a_replayed_key_creation_returns_the_secret_without_storing_it(server: Server) -> None:
    idempotency = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"name": f"replayed-{uuid.uuid4().hex[:6]}"}
    first = post(server, "/keys", body, **idempotency)
    again = post(server, "/keys", body, **idempotency)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    secret = first.json()["key"]
    url = (
        server.env.get("WORKHORSE_DATABASE_URL") or f"sqlite:///{server.data_dir / 'workhorse.db'}"
    )
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT body FROM idempotency_records")).scalars().all()
    finally:
        engine.dispose()
    assert stored
    assert not any(secret.encode() in (row or b"") for row in stored)


def test_a_sealed_replay_opens_only_with_the_secret_that_made_the_request(
    server: Server,
) -> None:
    second_admin = new_key(server, scopes=["admin"])
    idempotency = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"name": f"sealed-{uuid.uuid4().hex[:6]}"}

    def create(secret: str) -> httpx.Response:
        return httpx.post(
            server.v1 + "/admin/keys",
            json=body,
            headers={"Authorization": f"Bearer {secret}", **idempotency},
        )

    first = create(second_admin["key"])
    assert first.status_code == 200
    rotated = post(server, f"/keys/{second_admin['id']}/rotate", {"grace_period_seconds": 60})
    new_secret = rotated.json()["key"]
    sealed = create(new_secret)  # the same key id, another secret: cannot open it
    assert sealed.status_code == 409
    assert sealed.json()["error"]["code"] == "replay_sealed"
    replayed = create(second_admin["key"])  # the old secret, still in its grace period
    assert replayed.json() == first.json()
    httpx.delete(server.v1 + f"/admin/keys/{second_admin['id']}", headers=admin(server))


def test_admin_operations_come_in_every_body_format_and_soap(server: Server) -> None:
    form = httpx.post(
        server.v1 + "/admin/keys",
        data={"name": "formed", "scopes": ["chat", "files"]},
        headers=admin(server),
    )
    assert form.status_code == 200, form.text
    assert form.json()["scopes"] == ["chat", "files"]
    xml = httpx.post(
        server.v1 + "/admin/projects",
        content=b"<request><name>from-xml</name></request>",
        headers={**admin(server), "Content-Type": "application/xml"},
    )
    assert xml.status_code == 200
    assert xml.json()["name"] == "from-xml"
    client = soap_client(server, server.admin_key)
    created = client.service.CreateApiKey(name="from-soap", scopes={"item": ["embeddings"]})
    assert created.key.startswith("wh-")
    assert created.scopes.item == ["embeddings"]


def test_bad_admin_input_names_the_field(server: Server) -> None:
    unknown_scope = post(server, "/keys", {"name": "x", "scopes": ["everything"]})
    assert unknown_scope.status_code == 400
    assert unknown_scope.json()["error"]["param"] == "scopes[0]"
    no_project = post(server, "/keys", {"name": "x", "project_id": "proj_nope"})
    assert no_project.status_code == 404
    assert no_project.json()["error"]["param"] == "project_id"
    blank = post(server, "/projects", {"name": "   "})
    assert blank.status_code == 400
    assert blank.json()["error"]["param"] == "name"
    long_grace = post(server, "/keys/key_nope/rotate", {"grace_period_seconds": 10**9})
    assert long_grace.status_code == 400
    assert long_grace.json()["error"]["param"] == "grace_period_seconds"
