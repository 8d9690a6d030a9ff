"""Vector stores through the official openai SDK: every format ingested and found, bad
files failing with their reason, attributes and filters, batches, deduplication.

Runs in the embedded mode (SQLite, SQLite queue, the server's worker threads) and the
scaled-out mode (PostgreSQL, Redis queue, a separate ``workhorse worker``).
"""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import docx
import httpx
import openai
import openpyxl
import pptx
import pytest

from tests.knowledge.test_parse import make_pdf
from tests.servers import Server, wait_for

MODEL = "smollm2-135m-instruct"


def upload(client: openai.OpenAI, name: str, content: bytes) -> str:
    return client.files.create(file=(name, io.BytesIO(content)), purpose="assistants").id


def settled(client: openai.OpenAI, store_id: str, timeout: float = 180) -> None:
    def done() -> bool:
        return client.vector_stores.retrieve(store_id).file_counts.in_progress == 0

    wait_for(done, timeout=timeout, what=f"vector store {store_id} to finish ingesting")


def as_bytes(path: Path) -> bytes:
    return path.read_bytes()


def documents(tmp: Path, token: str) -> dict[str, tuple[bytes, str]]:
    """A document per format, each with a phrase found nowhere else: name → (bytes, phrase)."""

    def phrase(kind: str) -> str:
        return f"The {kind} codeword for this test is zebra{kind}{token}."

    made: dict[str, tuple[bytes, str]] = {}
    pdf = make_pdf(tmp / "a.pdf", [["Cover page."], [phrase("pdf")]])
    made["report.pdf"] = (as_bytes(pdf), phrase("pdf"))
    document = docx.Document()
    document.add_heading("Handbook", level=1)
    document.add_paragraph(phrase("docx"))
    document.save(str(tmp / "a.docx"))
    made["handbook.docx"] = (as_bytes(tmp / "a.docx"), phrase("docx"))
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Plan"
    slide.placeholders[1].text = phrase("pptx")
    deck.save(str(tmp / "a.pptx"))
    made["plan.pptx"] = (as_bytes(tmp / "a.pptx"), phrase("pptx"))
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Item", "Note"])
    sheet.append(["secret", phrase("xlsx")])
    book.save(str(tmp / "a.xlsx"))
    made["sheet.xlsx"] = (as_bytes(tmp / "a.xlsx"), phrase("xlsx"))
    made["page.html"] = (
        f"<html><body><h1>Page</h1><p>{phrase('html')}</p></body></html>".encode(),
        phrase("html"),
    )
    made["notes.md"] = (f"# Notes\n\n{phrase('markdown')}\n".encode(), phrase("markdown"))
    made["plain.txt"] = (f"{phrase('text')}\n".encode(), phrase("text"))
    made["table.csv"] = (f'name,note\nrow,"{phrase("csv")}"\n'.encode(), phrase("csv"))
    made["data.json"] = (json.dumps({"note": phrase("json")}).encode(), phrase("json"))
    made["tool.py"] = (f'"""{phrase("python")}"""\n\nVALUE = 1\n'.encode(), phrase("python"))
    return made


def test_every_format_is_ingested_and_found(client: openai.OpenAI, tmp_path: Path) -> None:
    token = uuid.uuid4().hex[:8]
    docs = documents(tmp_path, token)
    ids = {name: upload(client, name, content) for name, (content, _) in docs.items()}
    store = client.vector_stores.create(name="formats", file_ids=list(ids.values()))
    settled(client, store.id)
    files = {f.id: f for f in client.vector_stores.files.list(store.id, limit=100)}
    assert {f.status for f in files.values()} == {"completed"}, [
        (f.id, f.last_error) for f in files.values()
    ]
    assert client.vector_stores.retrieve(store.id).file_counts.completed == len(docs)
    for name, (_, phrase) in docs.items():
        kind = phrase.split()[1]
        results = client.vector_stores.search(store.id, query=f"zebra{kind}{token}").data
        assert results, name
        assert results[0].file_id == ids[name], (name, [r.filename for r in results])
        assert results[0].filename == name
        assert f"zebra{kind}{token}" in results[0].content[0].text


CORPUS = {
    "bakery.txt": (
        "Our sourdough starter is fed every morning at six with rye flour and water. "
        "Loaves proof overnight in the cold room."
    ),
    "garden.txt": (
        "Tomatoes need six to eight hours of direct sun and deep watering twice a week. "
        "Prune the suckers for larger fruit."
    ),
    "bikes.txt": (
        "To fix a flat tyre, remove the wheel, lever the tyre off the rim, and patch the "
        "inner tube where the bubbles appear."
    ),
    "astronomy.txt": (
        "Jupiter's Great Red Spot is a storm larger than Earth that has raged for centuries."
    ),
    "finance.txt": (
        "An index fund tracks a market index and usually charges lower fees than an "
        "actively managed fund."
    ),
}
QUESTIONS = {
    "When is the sourdough starter fed?": "bakery.txt",
    "How much sun do tomato plants need?": "garden.txt",
    "How do I repair a punctured bicycle tire?": "bikes.txt",
    "What is the big storm on Jupiter?": "astronomy.txt",
    "Why are index funds cheap?": "finance.txt",
}


def test_questions_find_their_passage_in_the_top_3(client: openai.OpenAI) -> None:
    ids = {
        name: upload(client, name, f"{text}\n{uuid.uuid4()}".encode())
        for name, text in CORPUS.items()
    }
    batch = client.vector_stores.file_batches.create(
        vector_store_id=client.vector_stores.create(name="qa").id, file_ids=list(ids.values())
    )
    settled(client, batch.vector_store_id)
    for question, expected in QUESTIONS.items():
        found = client.vector_stores.search(
            batch.vector_store_id, query=question, max_num_results=3
        ).data
        assert ids[expected] in [r.file_id for r in found[:3]], (question, found)


def test_bad_files_fail_with_their_reason_and_the_store_stays_usable(
    client: openai.OpenAI, tmp_path: Path
) -> None:
    encrypted = make_pdf(tmp_path / "e.pdf", [["secret"]], encrypt="pw")
    bad = {
        "broken.pdf": (b"%PDF-1.7\n" + uuid.uuid4().bytes, "invalid_file", "not a valid PDF"),
        "locked.pdf": (as_bytes(encrypted), "invalid_file", "encrypted"),
        "empty.txt": (b"", "invalid_file", "empty"),
        "blob.bin": (b"\x00\x01binary" + uuid.uuid4().bytes, "unsupported_file", ".bin"),
        "huge.txt": (b"word " * 900_000 + uuid.uuid4().bytes, "invalid_file", "limit"),
    }
    good = upload(client, "fine.txt", f"A perfectly fine note {uuid.uuid4()}.".encode())
    ids = {name: upload(client, name, content) for name, (content, _, _) in bad.items()}
    store = client.vector_stores.create(file_ids=[good, *ids.values()])
    settled(client, store.id)
    for name, (_, code, words) in bad.items():
        state = client.vector_stores.files.retrieve(ids[name], vector_store_id=store.id)
        assert state.status == "failed", name
        assert state.last_error is not None
        assert state.last_error.code == code, (name, state.last_error)
        assert words in state.last_error.message, (name, state.last_error.message)
        assert name in state.last_error.message
    counts = client.vector_stores.retrieve(store.id).file_counts
    assert (counts.completed, counts.failed) == (1, len(bad))
    assert (
        client.vector_stores.search(store.id, query="perfectly fine note").data[0].file_id == good
    )


def test_attributes_filter_results(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="filters")
    marker = uuid.uuid4().hex[:8]
    for year, team in ((2023, "red"), (2024, "blue"), (2025, "red")):
        file_id = upload(client, f"{year}.txt", f"Quarterly report {marker} for {year}.".encode())
        client.vector_stores.files.create(
            vector_store_id=store.id, file_id=file_id, attributes={"year": year, "team": team}
        )
    settled(client, store.id)

    def years(filters: dict[str, object]) -> set[str]:
        found = client.vector_stores.search(
            store.id,
            query=f"quarterly report {marker}",
            filters=filters,  # type: ignore[arg-type]
        ).data
        return {r.filename for r in found}

    assert years({"type": "eq", "key": "team", "value": "red"}) == {"2023.txt", "2025.txt"}
    assert years({"type": "gte", "key": "year", "value": 2024}) == {"2024.txt", "2025.txt"}
    assert years(
        {
            "type": "and",
            "filters": [
                {"type": "eq", "key": "team", "value": "red"},
                {"type": "lt", "key": "year", "value": 2025},
            ],
        }
    ) == {"2023.txt"}
    assert years({"type": "eq", "key": "missing", "value": 1}) == set()
    found = client.vector_stores.search(
        store.id, query=f"quarterly report {marker}", ranking_options={"score_threshold": 1.0}
    ).data
    assert len(found) <= 1


def test_same_content_is_stored_once_and_a_file_is_in_a_store_once(
    client: openai.OpenAI,
) -> None:
    content = f"Duplicate content {uuid.uuid4()}".encode()
    first = upload(client, "a.txt", content)
    second = upload(client, "b.txt", content)
    assert first == second
    store = client.vector_stores.create(file_ids=[first])
    again = client.vector_stores.files.create(vector_store_id=store.id, file_id=first)
    assert again.id == first
    settled(client, store.id)
    assert client.vector_stores.retrieve(store.id).file_counts.total == 1
    results = client.vector_stores.search(store.id, query="Duplicate content").data
    assert len(results) == 1


def test_batches_report_and_cancel(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="batches")
    ids = [upload(client, f"{i}.txt", f"Batch note {i} {uuid.uuid4()}".encode()) for i in range(3)]
    batch = client.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=ids)
    assert batch.file_counts.total == 3
    settled(client, store.id)
    done = client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id)
    assert done.status == "completed"
    assert done.file_counts.completed == 3
    listed = client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id)
    assert {f.id for f in listed} == set(ids)
    big = upload(client, "big.txt", ("Long text. " * 200_000 + str(uuid.uuid4())).encode())
    slow = client.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=[big])
    cancelled = client.vector_stores.file_batches.cancel(slow.id, vector_store_id=store.id)
    assert cancelled.status == "cancelled"
    state = client.vector_stores.files.retrieve(big, vector_store_id=store.id)
    assert state.status in ("cancelled", "completed")


def test_stores_and_files_belong_to_their_key(client: openai.OpenAI, other: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="mine")
    stranger = other
    with pytest.raises(openai.NotFoundError):
        stranger.vector_stores.retrieve(store.id)
    mine = upload(client, "mine.txt", f"private {uuid.uuid4()}".encode())
    theirs = stranger.vector_stores.create(name="theirs")
    with pytest.raises(openai.NotFoundError) as refused:
        stranger.vector_stores.files.create(vector_store_id=theirs.id, file_id=mine)
    assert refused.value.body["param"] == "file_id"  # type: ignore[index]


def test_store_crud_and_validation(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(
        name="crud",
        metadata={"team": "kb"},
        expires_after={"anchor": "last_active_at", "days": 7},
        chunking_strategy={
            "type": "static",
            "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 50},
        },
    )
    assert store.expires_at is not None
    renamed = client.vector_stores.update(store.id, name="renamed")
    assert renamed.name == "renamed"
    assert renamed.metadata == {"team": "kb"}
    assert store.id in {s.id for s in client.vector_stores.list(limit=100)}
    with pytest.raises(openai.BadRequestError) as bad:
        client.vector_stores.create(
            chunking_strategy={
                "type": "static",
                "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 150},
            }
        )
    assert bad.value.body["param"] == "chunking_strategy.static"  # type: ignore[index]
    assert client.vector_stores.delete(store.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.retrieve(store.id)


@pytest.fixture(scope="module")
def bakery_store(server: Server) -> tuple[str, str]:
    """A store holding the bakery handbook: (store id, file id)."""
    with openai.OpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0) as client:
        text = f"{CORPUS['bakery.txt']}\nThe head baker is called Marguerite. {uuid.uuid4()}"
        file_id = upload(client, "bakery.txt", text.encode())
        store = client.vector_stores.create(name="bakery", file_ids=[file_id])
        settled(client, store.id)
        return store.id, file_id


def test_file_search_in_responses_cites_its_sources(
    client: openai.OpenAI, bakery_store: tuple[str, str]
) -> None:
    store_id, file_id = bakery_store
    response = client.responses.create(
        model=MODEL,
        input="Who is the head baker?",
        tools=[{"type": "file_search", "vector_store_ids": [store_id], "max_num_results": 2}],
        include=["file_search_call.results"],
        max_output_tokens=24,
        temperature=0,
    )
    call, message = response.output
    assert call.type == "file_search_call"
    assert call.status == "completed"
    assert call.queries == ["Who is the head baker?"]
    assert call.results is not None
    assert call.results[0].file_id == file_id
    assert "Marguerite" in (call.results[0].text or "")
    assert message.type == "message"
    [citation] = message.content[0].annotations  # type: ignore[union-attr]
    assert citation.type == "file_citation"
    assert citation.file_id == file_id  # type: ignore[union-attr]
    assert citation.filename == "bakery.txt"  # type: ignore[union-attr]
    without = client.responses.create(
        model=MODEL,
        input="Who is the head baker?",
        tools=[{"type": "file_search", "vector_store_ids": [store_id]}],
        max_output_tokens=4,
    )
    assert without.output[0].results is None  # type: ignore[union-attr]


def test_file_search_stream_events(client: openai.OpenAI, bakery_store: tuple[str, str]) -> None:
    store_id, _ = bakery_store
    kinds = [
        e.type
        for e in client.responses.create(
            model=MODEL,
            input="When is the starter fed?",
            tools=[{"type": "file_search", "vector_store_ids": [store_id]}],
            max_output_tokens=8,
            stream=True,
        )
    ]
    assert kinds[:7] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.file_search_call.in_progress",
        "response.file_search_call.searching",
        "response.file_search_call.completed",
        "response.output_item.done",
    ]
    assert "response.output_text.annotation.added" in kinds


def test_file_search_extension_of_chat_completions(
    client: openai.OpenAI, bakery_store: tuple[str, str]
) -> None:
    store_id, file_id = bakery_store
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Who is the head baker?"}],
        max_tokens=16,
        extra_body={"file_search": {"vector_store_ids": [store_id], "max_num_results": 1}},
    )
    results = (completion.model_extra or {})["file_search_results"]
    assert [r["file_id"] for r in results] == [file_id]
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "x"}],
            extra_body={"file_search": {"vector_store_ids": ["vs_missing"]}},
        )


def ingested_chunks(server: Server, source: str) -> float:
    for line in httpx.get(server.base_url + "/metrics").text.splitlines():
        if line.startswith(f'workhorse_ingested_chunks_total{{source="{source}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_the_same_content_in_two_stores_is_embedded_once(
    client: openai.OpenAI, server: Server, storage_mode: str
) -> None:
    file_id = upload(client, "shared.txt", f"Shared knowledge {uuid.uuid4()}.".encode())
    first = client.vector_stores.create(name="first", file_ids=[file_id])
    settled(client, first.id)
    copied = ingested_chunks(server, "copied")
    second = client.vector_stores.create(name="second", file_ids=[file_id])
    settled(client, second.id)
    assert client.vector_stores.files.retrieve(file_id, vector_store_id=second.id).status == (
        "completed"
    )
    one = client.vector_stores.search(first.id, query="shared knowledge").data
    two = client.vector_stores.search(second.id, query="shared knowledge").data
    assert [r.content[0].text for r in one] == [r.content[0].text for r in two]
    if storage_mode == "sqlite":  # scaled out, the worker process does it (no /metrics there)
        assert ingested_chunks(server, "copied") == copied + len(two)
