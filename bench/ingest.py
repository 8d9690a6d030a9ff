"""Ingestion throughput: a mixed corpus through a vector store, against the bare model.

One run:

1. a corpus generated here (PDF pages with reportlab, DOCX, Markdown, HTML, CSV, plain
   text), uploaded to a Workhorse server (embedded mode) and added to one vector store;
   the clock runs from the store's creation until every file is ``completed``;
2. the same chunks (read back from the server's database), embedded directly with
   sentence-transformers in this process, same model, same batch size, same threads.

3. side by side, in this process, the way the server ingests (two files at a time, one
   embedding thread): parsing and chunking in the bench process's own threads, as
   ingestion did before the sandbox, against the parser processes of
   ``knowledge.sandbox``; first the parse and chunk stage alone, then the whole pipeline
   with embedding, each repeated and alternated, the median kept.

Prints pages/s and chunks/s of ingestion (parse + chunk + embed + index, queue and
database included), the ratio of ingestion chunks/s to bare embedding chunks/s (target
≥ 0.9), and the sandbox's pages/s against in-process parsing (target ≥ 0.9). A "page" is
a PDF page, or 3,000 characters of the other formats.

    .venv/bin/python bench/ingest.py [--pages 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from pathlib import Path

import docx
import httpx
import numpy as np
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import run_workhorse

from workhorse.knowledge.chunk import AUTO_MAX_TOKENS, AUTO_OVERLAP_TOKENS, WordPieceCounter, chunk
from workhorse.knowledge.limits import DocumentLimits, ProcessLimits
from workhorse.knowledge.parse import parse
from workhorse.knowledge.sandbox import ParserPool
from workhorse.providers.registry import bundled_embedding_model_path

TOKENIZER = bundled_embedding_model_path() / "tokenizer.json"
CONCURRENT_FILES = 2
"""Files ingested at once: the server's default job threads and parser processes."""

PAGE_CHARS = 3000
WORDS = [
    *("river", "bakery", "ledger", "harbour", "engine", "lantern", "orchard", "meadow"),
    *("signal", "timber", "copper", "weather", "journey", "garden", "library", "compass"),
    *("station", "valley", "summit", "canal"),
]


def paragraph(rng: np.random.Generator, words: int = 60) -> str:
    return " ".join(rng.choice(WORDS, size=words)).capitalize() + "."


def corpus(rng: np.random.Generator, pages: int, tmp: Path) -> tuple[list[tuple[str, bytes]], int]:
    """(name, bytes) files and their page count: a fifth of the pages in each format."""
    files: list[tuple[str, bytes]] = []
    share = max(pages // 5, 1)
    pdf_path = tmp / "corpus.pdf"
    drawing = canvas.Canvas(str(pdf_path), pagesize=A4)
    for page in range(share):
        text = drawing.beginText(40, 800)
        for line in range(40):
            text.textLine(f"{page}.{line} " + paragraph(rng, 10))
        drawing.drawText(text)
        drawing.showPage()
    drawing.save()
    files.append(("report.pdf", pdf_path.read_bytes()))

    def pages_of_text(count: int) -> list[str]:
        out, size = [], 0
        while size < count * PAGE_CHARS:
            out.append(paragraph(rng))
            size += len(out[-1])
        return out

    document = docx.Document()
    for i, text in enumerate(pages_of_text(share)):
        if i % 10 == 0:
            document.add_heading(f"Part {i // 10}", level=1)
        document.add_paragraph(text)
    stream = io.BytesIO()
    document.save(stream)
    files.append(("handbook.docx", stream.getvalue()))
    markdown = "\n\n".join(
        (f"## Section {i}\n\n" if i % 10 == 0 else "") + t
        for i, t in enumerate(pages_of_text(share))
    )
    files.append(("notes.md", markdown.encode()))
    html = "".join(f"<p>{t}</p>" for t in pages_of_text(share))
    files.append(("page.html", f"<html><body><h1>Page</h1>{html}</body></html>".encode()))
    rows = "\n".join(f"{i},{t}" for i, t in enumerate(pages_of_text(share)))
    files.append(("table.csv", f"id,text\n{rows}\n".encode()))
    return files, share * 5


def through_server(files: list[tuple[str, bytes]], tmp: Path) -> tuple[float, list[str]]:
    """Seconds from the store's creation until every file is completed, and the chunks."""
    with (
        run_workhorse(tmp, WORKHORSE_ACCESS_LOG="false") as server,
        httpx.Client(base_url=server.v1, headers=server.headers(), timeout=600) as http,
    ):
        ids = []
        for name, content in files:
            response = http.post(
                "/files", data={"purpose": "assistants"}, files={"file": (name, content)}
            )
            response.raise_for_status()
            ids.append(response.json()["id"])
        started = time.perf_counter()
        store = http.post("/vector_stores", json={"name": "bench", "file_ids": ids}).json()
        while True:
            state = http.get(f"/vector_stores/{store['id']}").json()
            if state["file_counts"]["in_progress"] == 0:
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        assert state["file_counts"]["completed"] == len(files), state
        database = server.data_dir / "workhorse.db"
    with sqlite3.connect(database) as conn:
        texts = [row[0] for row in conn.execute("SELECT text FROM knowledge_chunks")]
    return elapsed, texts


Embed = Callable[[list[str]], Awaitable[None]]


class Pipelines:
    """Parse, chunk (and embed) files the two ways, two files at a time."""

    def __init__(self, paths: list[tuple[Path, str]], pool: ParserPool, embed: Embed) -> None:
        self.paths = paths
        self.pool = pool
        self.embed = embed
        self.counter = WordPieceCounter(TOKENIZER)

    async def in_process(self, path: Path, name: str, embed: bool) -> int:
        blocks = await asyncio.to_thread(parse, path, name)
        chunks = await asyncio.to_thread(
            chunk,
            blocks,
            self.counter,
            max_tokens=AUTO_MAX_TOKENS,
            overlap_tokens=AUTO_OVERLAP_TOKENS,
        )
        for start in range(0, len(chunks), 64):
            if embed:
                await self.embed([c.text for c in chunks[start : start + 64]])
        return len(chunks)

    async def sandboxed(self, path: Path, name: str, embed: bool) -> int:
        count = 0
        batches = self.pool.chunks(
            path, name, max_tokens=AUTO_MAX_TOKENS, overlap_tokens=AUTO_OVERLAP_TOKENS, batch=64
        )
        async with aclosing(batches):
            async for part in batches:
                if embed:
                    await self.embed([c.text for c in part])
                count += len(part)
        return count

    async def timed(self, way: str, embed: bool) -> tuple[float, int]:
        run = self.in_process if way == "in-process" else self.sandboxed
        slots = asyncio.Semaphore(CONCURRENT_FILES)

        async def one(path: Path, name: str) -> int:
            async with slots:
                return await run(path, name, embed)

        started = time.perf_counter()
        counts = await asyncio.gather(*(one(path, name) for path, name in self.paths))
        return time.perf_counter() - started, sum(counts)


async def side_by_side(files: list[tuple[str, bytes]], pages: int, tmp: Path, repeats: int) -> None:
    from sentence_transformers import SentenceTransformer

    folder = tmp / "corpus"
    folder.mkdir()
    paths = []
    for name, content in files:
        (folder / name).write_bytes(content)
        paths.append((folder / name, name))
    model = SentenceTransformer(str(bundled_embedding_model_path()), device="cpu")
    model_thread = ThreadPoolExecutor(max_workers=1)  # the server's one thread per model
    loop = asyncio.get_running_loop()

    async def embed(texts: list[str]) -> None:
        await loop.run_in_executor(
            model_thread,
            lambda: model.encode(texts, batch_size=32, normalize_embeddings=True),
        )

    pool = ParserPool(ProcessLimits(), DocumentLimits(), TOKENIZER, size=CONCURRENT_FILES)
    pipelines = Pipelines(paths, pool, embed)
    try:
        for way in ("in-process", "sandbox"):  # warm-up: imports, processes, the model
            await pipelines.timed(way, embed=False)
        await embed(["warm-up"])
        for embed_too, title in ((False, "parse + chunk"), (True, "parse + chunk + embed")):
            seconds: dict[str, list[float]] = {"in-process": [], "sandbox": []}
            chunks = 0
            for _ in range(repeats):
                for way in seconds:
                    elapsed, chunks = await pipelines.timed(way, embed=embed_too)
                    seconds[way].append(elapsed)
            rates = {way: pages / statistics.median(times) for way, times in seconds.items()}
            for way, rate in rates.items():
                spread = ", ".join(f"{t:.2f}" for t in seconds[way])
                print(f"{title}, {way}: {rate:.1f} pages/s ({chunks} chunks; runs {spread} s)")
            ratio = rates["sandbox"] / rates["in-process"]
            print(f"{title}: sandbox/in-process pages/s {ratio:.3f}  (target >= 0.9)")
    finally:
        await pool.aclose()
        model_thread.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-server", action="store_true", help="only the side-by-side runs")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        files, pages = corpus(rng, args.pages, tmp)
        if not args.no_server:
            elapsed, texts = through_server(files, tmp)
            print(f"corpus: {len(files)} files, {pages} pages, {len(texts)} chunks")
            rate = len(texts) / elapsed
            print(f"ingestion: {elapsed:.1f} s, {pages / elapsed:.1f} pages/s, {rate:.1f} chunks/s")
            bare = bare_embedding(texts)
            print(f"bare embedding: {bare:.1f} s, {len(texts) / bare:.1f} chunks/s")
            print(f"ingestion/bare chunks/s: {bare / elapsed:.3f}  (target >= 0.9)")
        asyncio.run(side_by_side(files, pages, tmp, args.repeats))


def bare_embedding(texts: list[str]) -> float:
    """Seconds to embed ``texts`` directly, in batches of 64 as ingestion does."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(bundled_embedding_model_path()), device="cpu")
    model.encode(texts[:64], batch_size=32)  # warm-up
    started = time.perf_counter()
    for start in range(0, len(texts), 64):
        model.encode(texts[start : start + 64], batch_size=32, normalize_embeddings=True)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
