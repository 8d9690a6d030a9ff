"""The Files API through the official openai SDK, and a 1 GiB upload in flat memory."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Iterator

import httpx
import openai
import psutil
import pytest

from tests.servers import Server


def test_upload_list_retrieve_download_delete(client: openai.OpenAI) -> None:
    content = f"notes {uuid.uuid4()}".encode()
    created = client.files.create(
        file=("notes.txt", io.BytesIO(content), "text/plain"), purpose="assistants"
    )
    assert created.bytes == len(content)
    assert created.filename == "notes.txt"
    assert created.purpose == "assistants"
    assert created.id in {f.id for f in client.files.list(purpose="assistants")}
    assert client.files.retrieve(created.id).filename == "notes.txt"
    assert client.files.content(created.id).read() == content
    assert client.files.delete(created.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)


def test_identical_content_is_stored_once(client: openai.OpenAI, server: Server) -> None:
    content = f"same {uuid.uuid4()}".encode()
    first = client.files.create(file=("a.txt", io.BytesIO(content)), purpose="assistants")
    second = client.files.create(file=("b.txt", io.BytesIO(content)), purpose="assistants")
    other = client.files.create(file=("c.txt", io.BytesIO(content)), purpose="user_data")
    assert second.id == first.id
    assert other.id != first.id
    digest = hashlib.sha256(content).hexdigest()
    assert (server.data_dir / "blobs" / digest[:2] / digest).read_bytes() == content
    client.files.delete(first.id)
    assert (server.data_dir / "blobs" / digest[:2] / digest).exists()  # still used by `other`
    client.files.delete(other.id)
    assert not (server.data_dir / "blobs" / digest[:2] / digest).exists()


def test_client_filenames_are_never_paths(client: openai.OpenAI, server: Server) -> None:
    created = client.files.create(
        file=("../../etc/evil.txt", io.BytesIO(b"x" + uuid.uuid4().bytes)), purpose="assistants"
    )
    assert created.filename == "evil.txt"
    assert not (server.data_dir.parent / "etc").exists()


def test_listing_pages(client: openai.OpenAI) -> None:
    ids = [
        client.files.create(file=(f"{i}.txt", io.BytesIO(uuid.uuid4().bytes)), purpose="batch").id
        for i in range(3)
    ]
    page = client.files.list(purpose="batch", limit=2, order="asc")
    seen = [f.id for f in page]  # the SDK follows `after` through every page
    assert seen[-3:] == ids


def test_a_file_field_cannot_be_smuggled_as_json(server: Server) -> None:
    response = httpx.post(
        server.v1 + "/files",
        headers=server.headers(),
        json={"purpose": "assistants", "file": {"path": "/etc/passwd"}},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "file"


def test_idempotent_upload_replays(server: Server) -> None:
    files = {"file": ("k.txt", uuid.uuid4().bytes), "purpose": (None, "assistants")}
    headers = {**server.headers(), "Idempotency-Key": str(uuid.uuid4())}
    first = httpx.post(server.v1 + "/files", files=files, headers=headers)
    second = httpx.post(server.v1 + "/files", files=files, headers=headers)
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"


@pytest.mark.slow
def test_one_gib_upload_keeps_server_memory_flat(server: Server) -> None:
    size = 1024**3
    chunk = (uuid.uuid4().bytes * 4096)[: 1024 * 1024]
    digest = hashlib.sha256()
    boundary = "gib-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    process = psutil.Process(server.process.pid)
    baseline = process.memory_info().rss
    peak = baseline

    def body() -> Iterator[bytes]:
        nonlocal peak
        yield head
        for i in range(size // len(chunk)):
            digest.update(chunk)
            yield chunk
            if i % 64 == 0:
                peak = max(peak, process.memory_info().rss)
        yield tail

    response = httpx.post(
        server.v1 + "/files",
        content=body(),
        timeout=600,
        headers={**server.headers(), "content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["bytes"] == size
    stored = server.data_dir / "blobs" / digest.hexdigest()[:2] / digest.hexdigest()
    assert stored.stat().st_size == size
    assert peak - baseline < 64 * 1024**2, f"RSS grew by {(peak - baseline) / 1024**2:.1f} MiB"
    httpx.delete(server.v1 + f"/files/{response.json()['id']}", headers=server.headers())


def test_the_same_upload_in_every_format_is_the_same_file(server: Server) -> None:
    import base64

    content = b"every format " + uuid.uuid4().bytes
    encoded = base64.b64encode(content).decode()
    url, headers = server.v1 + "/files", server.headers()
    as_multipart = httpx.post(
        url, headers=headers, files={"file": ("f.txt", content), "purpose": (None, "user_data")}
    )
    as_json = httpx.post(
        url,
        headers=headers,
        json={"filename": "f.txt", "content": encoded, "purpose": "user_data"},
    )
    as_form = httpx.post(
        url, headers=headers, data={"filename": "f.txt", "content": encoded, "purpose": "user_data"}
    )
    as_xml = httpx.post(
        url,
        headers={**headers, "content-type": "application/xml"},
        content=f"<request><filename>f.txt</filename><content>{encoded}</content>"
        "<purpose>user_data</purpose></request>".encode(),
    )
    answers = [r.json() for r in (as_multipart, as_json, as_form, as_xml)]
    assert all(r.status_code == 200 for r in (as_multipart, as_json, as_form, as_xml)), answers
    assert answers[0]["bytes"] == len(content)
    assert answers[0] == answers[1] == answers[2] == answers[3]


def test_upload_needs_exactly_one_source(server: Server) -> None:
    response = httpx.post(
        server.v1 + "/files", headers=server.headers(), json={"purpose": "assistants"}
    )
    assert response.status_code == 400
    assert "file" in response.json()["error"]["message"]
