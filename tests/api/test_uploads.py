"""The Uploads API through the official openai SDK and raw HTTP: parts, completion in the
order given, checks that create nothing, cancel, other keys, expiry, a racing complete,
and 1 GiB in 64 MiB parts in flat server memory."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import openai
import psutil
import pytest
import sqlalchemy
from openai.types import Upload

from tests.api.test_soap import soap_client
from tests.servers import Server, run_workhorse, wait_for
from workhorse.store.db import open_database
from workhorse.store.tables import Upload as UploadRow

MiB = 1024**2


@pytest.fixture(scope="module")
def other_key(server: Server) -> str:
    """A second API key on the same server: a different owner."""
    created = server.cli("keys", "create", "--name", f"other-{uuid.uuid4().hex[:8]}")
    assert created.returncode == 0, created.stderr
    return created.stdout.strip().splitlines()[-1]


@pytest.fixture
def other(server: Server, other_key: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.v1, api_key=other_key, max_retries=0) as sdk:
        yield sdk


def start(client: openai.OpenAI, size: int, *, purpose: str = "assistants") -> Upload:
    return client.uploads.create(
        bytes=size,
        filename=f"{uuid.uuid4().hex}.bin",
        mime_type="application/octet-stream",
        purpose=purpose,  # type: ignore[arg-type]
    )


def send(client: openai.OpenAI, upload: Upload, *chunks: bytes) -> list[str]:
    return [client.uploads.parts.create(upload.id, data=chunk).id for chunk in chunks]


def files_named(client: openai.OpenAI, filename: str) -> list[str]:
    return [f.id for f in client.files.list() if f.filename == filename]


def test_three_parts_become_one_file(client: openai.OpenAI, server: Server) -> None:
    chunks = [uuid.uuid4().bytes * (i + 1) for i in range(3)]
    content = b"".join(chunks)
    upload = start(client, len(content))
    assert upload.id.startswith("upload_")
    assert (upload.object, upload.status, upload.file) == ("upload", "pending", None)
    assert upload.expires_at == upload.created_at + 3600
    parts = [client.uploads.parts.create(upload.id, data=chunk) for chunk in chunks]
    assert all(p.id.startswith("part_") and p.object == "upload.part" for p in parts)
    assert {p.upload_id for p in parts} == {upload.id}
    assert (server.data_dir / "uploads" / upload.id / parts[0].id).read_bytes() == chunks[0]

    done = client.uploads.complete(
        upload.id,
        part_ids=[p.id for p in parts],
        md5=hashlib.md5(content, usedforsecurity=False).hexdigest(),
    )
    assert done.status == "completed"
    assert done.file is not None
    assert (done.file.bytes, done.file.filename, done.file.purpose) == (
        len(content),
        upload.filename,
        "assistants",
    )
    assert client.files.content(done.file.id).read() == content
    assert not (server.data_dir / "uploads" / upload.id).exists()


def test_the_sdk_chunked_helper(client: openai.OpenAI, tmp_path: Path) -> None:
    path = tmp_path / "helper.bin"
    path.write_bytes(uuid.uuid4().bytes * 1000)
    done = client.uploads.upload_file_chunked(
        file=path, mime_type="application/octet-stream", purpose="user_data", part_size=3000
    )
    assert done.status == "completed"
    assert done.file is not None
    assert client.files.content(done.file.id).read() == path.read_bytes()


def test_parts_are_joined_in_the_order_given(client: openai.OpenAI) -> None:
    a, b, c = b"first-" + uuid.uuid4().bytes, b"second-", b"third-"
    upload = start(client, len(a + b + c))
    pa, pb, pc = send(client, upload, a, b, c)
    done = client.uploads.complete(upload.id, part_ids=[pc, pa, pb])
    assert done.file is not None
    assert client.files.content(done.file.id).read() == c + a + b


def test_completing_again_answers_the_same(client: openai.OpenAI) -> None:
    upload = start(client, 32)
    part_ids = send(client, upload, uuid.uuid4().bytes, uuid.uuid4().bytes)
    first = client.uploads.complete(upload.id, part_ids=part_ids)
    assert client.uploads.complete(upload.id, part_ids=part_ids) == first
    with pytest.raises(openai.ConflictError):
        client.uploads.complete(upload.id, part_ids=part_ids[::-1])
    with pytest.raises(openai.ConflictError, match="completed"):
        client.uploads.parts.create(upload.id, data=b"late")
    with pytest.raises(openai.ConflictError):
        client.uploads.cancel(upload.id)


def test_a_wrong_byte_count_creates_nothing(client: openai.OpenAI) -> None:
    upload = start(client, 10)
    first = send(client, upload, b"123456")
    with pytest.raises(openai.BadRequestError) as caught:
        client.uploads.complete(upload.id, part_ids=first)
    message = caught.value.body["message"]  # type: ignore[index]
    assert "6 bytes" in message
    assert "bytes=10" in message
    assert files_named(client, upload.filename) == []
    # Still pending: the rest may come.
    done = client.uploads.complete(upload.id, part_ids=first + send(client, upload, b"7890"))
    assert done.file is not None
    assert done.file.bytes == 10


def test_a_part_beyond_the_declared_size_is_refused(client: openai.OpenAI) -> None:
    upload = start(client, 4)
    with pytest.raises(openai.BadRequestError) as caught:
        send(client, upload, b"12345")
    assert caught.value.param == "data"
    assert "5 bytes" in caught.value.message
    assert "4 bytes" in caught.value.message


def test_a_part_over_64_mib_is_refused(client: openai.OpenAI, server: Server) -> None:
    upload = start(client, 128 * MiB)
    response = httpx.post(
        f"{server.v1}/uploads/{upload.id}/parts",
        headers=server.headers(),
        files={"data": ("p", b"x" * (64 * MiB + 1))},
        timeout=120,
    )
    assert response.status_code == 413, response.text
    assert response.json()["error"]["param"] == "data"
    assert not any((server.data_dir / "uploads" / upload.id).glob("*"))


def test_a_wrong_md5_creates_nothing(client: openai.OpenAI) -> None:
    content = uuid.uuid4().bytes
    upload = start(client, len(content))
    part_ids = send(client, upload, content)
    with pytest.raises(openai.BadRequestError) as caught:
        client.uploads.complete(upload.id, part_ids=part_ids, md5="0" * 32)
    assert caught.value.param == "md5"
    assert files_named(client, upload.filename) == []
    done = client.uploads.complete(
        upload.id,
        part_ids=part_ids,
        md5=hashlib.md5(content, usedforsecurity=False).hexdigest().upper(),
    )
    assert done.status == "completed"


@pytest.mark.parametrize("which", ["unknown", "foreign", "repeated"])
def test_every_part_id_must_be_this_uploads_once(client: openai.OpenAI, which: str) -> None:
    upload = start(client, 8)
    [mine] = send(client, upload, b"12345678")
    [foreign] = send(client, start(client, 8), b"abcdefgh")
    second = {"unknown": "part_" + "0" * 24, "foreign": foreign, "repeated": mine}[which]
    with pytest.raises(openai.BadRequestError) as caught:
        client.uploads.complete(upload.id, part_ids=[mine, second])
    assert caught.value.param == "part_ids[1]"
    assert files_named(client, upload.filename) == []


def test_cancel_deletes_the_parts_and_refuses_more(client: openai.OpenAI, server: Server) -> None:
    upload = start(client, 20)
    part_ids = send(client, upload, b"0123456789")
    folder = server.data_dir / "uploads" / upload.id
    assert folder.is_dir()
    cancelled = client.uploads.cancel(upload.id)
    assert cancelled.status == "cancelled"
    assert not folder.exists()
    with pytest.raises(openai.ConflictError, match="cancelled"):
        send(client, upload, b"0123456789")
    with pytest.raises(openai.ConflictError, match="cancelled"):
        client.uploads.complete(upload.id, part_ids=part_ids)
    assert client.uploads.cancel(upload.id).status == "cancelled"
    assert not folder.exists()


def test_another_key_can_neither_see_nor_use_an_upload(
    client: openai.OpenAI, other: openai.OpenAI, server: Server
) -> None:
    upload = start(client, 4)
    part_ids = send(client, upload, b"mine")
    with pytest.raises(openai.NotFoundError):
        other.uploads.parts.create(upload.id, data=b"evil")
    with pytest.raises(openai.NotFoundError):
        other.uploads.complete(upload.id, part_ids=part_ids)
    with pytest.raises(openai.NotFoundError):
        other.uploads.cancel(upload.id)
    seen = httpx.get(
        f"{server.v1}/uploads/{upload.id}", headers={"Authorization": f"Bearer {other.api_key}"}
    )
    assert seen.status_code == 404
    # Nor can a part of its own upload be completed into someone else's.
    theirs = start(other, 4)
    with pytest.raises(openai.BadRequestError):
        other.uploads.complete(theirs.id, part_ids=part_ids)
    done = client.uploads.complete(upload.id, part_ids=part_ids)
    assert done.file is not None
    mine = httpx.get(f"{server.v1}/uploads/{upload.id}", headers=server.headers()).json()
    assert mine["status"] == "completed"
    assert mine["file"]["id"] == done.file.id


def test_create_validates_and_sanitises(server: Server) -> None:
    url, headers = server.v1 + "/uploads", server.headers()
    base = {"filename": "a.txt", "purpose": "assistants", "mime_type": "text/plain"}
    for field, value in (("bytes", -1), ("bytes", 8 * 1024**3 + 1), ("purpose", "nope")):
        response = httpx.post(url, headers=headers, json={**base, "bytes": 1, field: value})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == field
    made = httpx.post(url, headers=headers, json={**base, "bytes": 1, "filename": "../../x.txt"})
    assert made.status_code == 200
    assert made.json()["filename"] == "x.txt"


def test_every_body_format_and_idempotency_key(server: Server) -> None:
    url, headers = server.v1 + "/uploads", server.headers()
    fields = {"filename": "f.txt", "purpose": "batch", "bytes": "3", "mime_type": "text/plain"}
    as_form = httpx.post(url, headers=headers, data=fields)
    as_xml = httpx.post(
        url,
        headers={**headers, "content-type": "application/xml"},
        content=(
            "<request>" + "".join(f"<{k}>{v}</{k}>" for k, v in fields.items()) + "</request>"
        ).encode(),
    )
    assert as_form.status_code == as_xml.status_code == 200, (as_form.text, as_xml.text)
    assert as_form.json()["bytes"] == as_xml.json()["bytes"] == 3

    upload = as_form.json()["id"]
    keyed = {**headers, "Idempotency-Key": str(uuid.uuid4())}
    part_url = f"{url}/{upload}/parts"
    first = httpx.post(part_url, headers=keyed, files={"data": ("p", b"abc")})
    again = httpx.post(part_url, headers=keyed, files={"data": ("p", b"abc")})
    assert first.status_code == 200, first.text
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    # The replayed part was not counted twice: its 3 bytes complete the 3-byte upload.
    done = httpx.post(
        f"{url}/{upload}/complete", headers=headers, json={"part_ids": [first.json()["id"]]}
    )
    assert done.status_code == 200, done.text
    assert done.json()["file"]["bytes"] == 3


def test_a_part_must_be_a_file_part(server: Server) -> None:
    upload = httpx.post(
        server.v1 + "/uploads",
        headers=server.headers(),
        json={"filename": "f", "purpose": "batch", "bytes": 3, "mime_type": "text/plain"},
    ).json()
    url = f"{server.v1}/uploads/{upload['id']}/parts"
    # Only multipart can carry a file: any other format is the wrong media type.
    response = httpx.post(url, headers=server.headers(), json={"data": "abc"})
    assert response.status_code == 415
    assert "multipart/form-data" in response.json()["error"]["message"]
    # A multipart field part, not a file part, is refused naming the field.
    response = httpx.post(url, headers=server.headers(), files={"data": (None, b"abc")})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "data"


def test_racing_completes_create_one_file(client: openai.OpenAI, server: Server) -> None:
    content = uuid.uuid4().bytes * 64 * 1024  # 1 MiB: the copy takes a moment
    upload = start(client, len(content))
    part_ids = send(client, upload, content[: len(content) // 2], content[len(content) // 2 :])
    answers: list[httpx.Response] = []

    def complete() -> None:
        answers.append(
            httpx.post(
                f"{server.v1}/uploads/{upload.id}/complete",
                headers=server.headers(),
                json={"part_ids": part_ids},
                timeout=60,
            )
        )

    threads = [threading.Thread(target=complete) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {a.status_code for a in answers} <= {200, 409}, [a.text for a in answers]
    won = [a.json()["file"]["id"] for a in answers if a.status_code == 200]
    assert won
    assert len(set(won)) == 1
    assert files_named(client, upload.filename) == won[:1]
    assert client.files.content(won[0]).read() == content


def test_create_upload_over_soap(server: Server) -> None:
    result = soap_client(server).service.CreateUpload(
        filename="soap.bin", purpose="batch", bytes=5, mime_type="application/octet-stream"
    )
    assert result.id.startswith("upload_")
    assert result.status == "pending"


def test_uploads_expire_and_their_parts_are_purged(
    tmp_path: Path, storage_mode: str, request: pytest.FixtureRequest
) -> None:
    database_url = None
    if storage_mode == "postgres":
        make: Callable[[], str] = request.getfixturevalue("new_database")
        database_url = make()
    with (
        run_workhorse(
            tmp_path,
            database_url,
            WORKHORSE_UPLOADS_TTL_S="2",
            WORKHORSE_LOAD_BUNDLED_MODELS="false",
        ) as short,
        openai.OpenAI(base_url=short.v1, api_key=short.api_key, max_retries=0) as client,
    ):
        upload = start(client, 8)
        assert upload.expires_at == upload.created_at + 2
        part_ids = send(client, upload, b"1234")
        folder = short.data_dir / "uploads" / upload.id
        assert folder.is_dir()

        def status() -> str:
            url = f"{short.v1}/uploads/{upload.id}"
            return str(httpx.get(url, headers=short.headers()).json()["status"])

        wait_for(lambda: status() == "expired", timeout=10, what="the upload to expire")
        with pytest.raises(openai.ConflictError, match="expired"):
            send(client, upload, b"5678")
        with pytest.raises(openai.ConflictError, match="expired"):
            client.uploads.complete(upload.id, part_ids=part_ids)
        with pytest.raises(openai.ConflictError, match="expired"):
            client.uploads.cancel(upload.id)
        wait_for(lambda: not folder.exists(), timeout=10, what="the parts to be purged")


def _multipart_part(
    size: int, chunk: bytes, on_chunk: list[Callable[[bytes], None]]
) -> tuple[str, Iterator[bytes]]:
    boundary = "part-" + uuid.uuid4().hex

    def body() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="data"; filename="p"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        for _ in range(size // len(chunk)):
            for update in on_chunk:
                update(chunk)
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    return f"multipart/form-data; boundary={boundary}", body()


@pytest.mark.slow
def test_one_gib_in_parts_keeps_server_memory_flat(server: Server) -> None:
    size, part_size = 1024**3, 64 * MiB
    chunk = (uuid.uuid4().bytes * 4096)[:MiB]
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    process = psutil.Process(server.process.pid)
    baseline = peak = process.memory_info().rss
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.05):
            peak = max(peak, process.memory_info().rss)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        headers = server.headers()
        upload = httpx.post(
            server.v1 + "/uploads",
            headers=headers,
            json={"filename": "big.bin", "purpose": "batch", "bytes": size, "mime_type": "x/y"},
        ).json()
        part_ids = []
        for _ in range(size // part_size):
            content_type, body = _multipart_part(part_size, chunk, [sha256.update, md5.update])
            response = httpx.post(
                f"{server.v1}/uploads/{upload['id']}/parts",
                content=body,
                timeout=600,
                headers={**headers, "content-type": content_type},
            )
            assert response.status_code == 200, response.text
            part_ids.append(response.json()["id"])
        done = httpx.post(
            f"{server.v1}/uploads/{upload['id']}/complete",
            headers=headers,
            json={"part_ids": part_ids, "md5": md5.hexdigest()},
            timeout=600,
        )
    finally:
        stop.set()
        sampler.join()
    assert done.status_code == 200, done.text
    assert done.json()["file"]["bytes"] == size
    stored = server.data_dir / "blobs" / sha256.hexdigest()[:2] / sha256.hexdigest()
    assert stored.stat().st_size == size
    assert peak - baseline < 64 * MiB, f"RSS grew by {(peak - baseline) / MiB:.1f} MiB"
    httpx.delete(f"{server.v1}/files/{done.json()['file']['id']}", headers=headers)


def test_a_complete_abandoned_mid_way_is_taken_over_after_its_lease(
    tmp_path: Path, storage_mode: str, request: pytest.FixtureRequest
) -> None:
    """A process that died while completing leaves the upload claimed; a retried complete
    is refused while the claim may still be alive, and takes it over once its lease ran out."""
    database_url = None
    if storage_mode == "postgres":
        make: Callable[[], str] = request.getfixturevalue("new_database")
        database_url = make()
    with (
        run_workhorse(
            tmp_path,
            database_url,
            WORKHORSE_UPLOADS_COMPLETE_LEASE_S="3",
            WORKHORSE_LOAD_BUNDLED_MODELS="false",
        ) as short,
        openai.OpenAI(base_url=short.v1, api_key=short.api_key, max_retries=0) as client,
    ):
        content = uuid.uuid4().bytes * 4
        upload = start(client, len(content))
        part_ids = send(client, upload, content[:40], content[40:])
        url = database_url or f"sqlite:///{short.data_dir / 'workhorse.db'}"
        # What a complete leaves behind when its process dies after claiming the upload.
        abandon_claim(url, upload.id, part_ids)
        with pytest.raises(openai.ConflictError, match="being completed"):
            client.uploads.complete(upload.id, part_ids=part_ids)
        time.sleep(3.5)
        completed = client.uploads.complete(upload.id, part_ids=part_ids)
        assert completed.status == "completed"
        assert completed.file is not None
        assert client.files.content(completed.file.id).content == content


def abandon_claim(database_url: str, upload_id: str, part_ids: list[str]) -> None:
    async def claim() -> None:
        db = open_database(database_url)
        try:
            async with db.engine.begin() as conn:
                await conn.execute(
                    sqlalchemy.update(UploadRow)
                    .where(UploadRow.id == upload_id)
                    .values(
                        status="completing",
                        part_ids_json=json.dumps(part_ids),
                        claimed_at=datetime.now(UTC),
                    )
                )
        finally:
            await db.dispose()

    asyncio.run(claim())
