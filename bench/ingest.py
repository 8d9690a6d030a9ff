"""Ingestion throughput: a mixed corpus through a vector store, against the bare model.

One run:

1. a corpus generated here (PDF pages with reportlab, DOCX, Markdown, HTML, CSV, plain
   text), uploaded to a Workhorse server (embedded mode) and added to one vector store;
   the clock runs from the store's creation until every file is ``completed``;
2. the same chunks (read back from the server's database), embedded directly with
   sentence-transformers in this process, same model, same batch size, same threads.

Prints pages/s and chunks/s of ingestion (parse + chunk + embed + index, queue and
database included) and the ratio of ingestion chunks/s to bare embedding chunks/s
(target ≥ 0.9). A "page" is a PDF page, or 3,000 characters of the other formats.

    .venv/bin/python bench/ingest.py [--pages 200]
"""

from __future__ import annotations

import argparse
import io
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import docx
import httpx
import numpy as np
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import run_workhorse

from workhorse.providers.registry import bundled_embedding_model_path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        files, pages = corpus(rng, args.pages, tmp)
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
    print(f"corpus: {len(files)} files, {pages} pages, {len(texts)} chunks")
    rate = len(texts) / elapsed
    print(f"ingestion: {elapsed:.1f} s, {pages / elapsed:.1f} pages/s, {rate:.1f} chunks/s")

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(bundled_embedding_model_path()), device="cpu")
    model.encode(texts[:64], batch_size=32)  # warm-up
    started = time.perf_counter()
    for start in range(0, len(texts), 64):
        model.encode(texts[start : start + 64], batch_size=32, normalize_embeddings=True)
    bare = time.perf_counter() - started
    print(f"bare embedding: {bare:.1f} s, {len(texts) / bare:.1f} chunks/s")
    print(f"ingestion/bare chunks/s: {bare / elapsed:.3f}  (target >= 0.9)")


if __name__ == "__main__":
    main()
