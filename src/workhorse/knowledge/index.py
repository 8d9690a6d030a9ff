"""The chunk index of the knowledge base, and hybrid search over it.

A vector store's files are indexed as chunks: text, where it came from, and an embedding
(a 1-D float32 numpy array, L2-normalised by the caller). ``search`` is hybrid: the
nearest neighbours of the query vector (cosine) and the chunks matching the query's
words (BM25 on SQLite's FTS5, ``ts_rank_cd`` on PostgreSQL; any word may match) are
fused by reciprocal rank, k = 60 (Cormack et al., 2009).

**What ``Hit.score`` means.** The fused score normalised to [0, 1]:

    score = Σ_lists 1 / (60 + rank_in_list)  /  Σ_lists 1 / (60 + 1)

summed over the lists the search ran (the vector list always; the word list when the
query has at least one word). 1.0 is a chunk ranked first by meaning and by words;
a chunk found by only one of the two lists scores at most 0.5; ranks 1 and 10 score
about 0.93, ranks 10 and 10 about 0.87. Results come in descending score, and
``score_threshold`` keeps hits with ``score >= score_threshold``: 0.5 or more keeps
chunks that both kinds of search found, or the very top of one. The score ranks hits
against the others of the same search; it is not a calibrated probability of
relevance, and it is the same on both backends.

Two backends, picked by the database dialect (``open_index``): ``SqliteIndex``
(embedded mode: chunks and FTS5 in SQLite, an in-memory usearch HNSW index per vector
store saved under ``<data dir>/vectors``) and ``PgIndex`` (pgvector HNSW + tsvector).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import text

from workhorse.store.db import Database

Vector = NDArray[np.float32]
"""A 1-D float32 embedding, L2-normalised."""

RRF_K = 60
"""The reciprocal rank fusion constant."""

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class IndexedChunk:
    """One chunk of a file, ready to be indexed."""

    chunk_index: int
    """Order within the file (unique per file)."""
    text: str
    location: str | None
    """Where in the file: "page 3", "sheet Sales, row 4", ..."""
    vector: Vector = field(compare=False)
    """The embedding of ``text``: 1-D float32, L2-normalised, ``dimensions`` long."""


@dataclass(frozen=True)
class Hit:
    """One search result; ``score`` is in [0, 1], higher is better (see the module doc)."""

    vector_store_id: str
    file_id: str
    chunk_index: int
    text: str
    location: str | None
    score: float


class ChunkIndex(Protocol):
    """Where chunks are stored and searched; one per process, shared by all tasks."""

    async def replace_file(
        self, vector_store_id: str, file_id: str, chunks: list[IndexedChunk]
    ) -> None:
        """Replace every chunk of the file, in one transaction (so a retry leaves one copy)."""

    async def remove_file(self, vector_store_id: str, file_id: str) -> None:
        """Remove every chunk of the file."""

    async def remove_store(self, vector_store_id: str) -> None:
        """Remove every chunk of the vector store."""

    async def count(self, vector_store_id: str, file_id: str | None = None) -> int:
        """How many chunks the store (or one of its files) has."""

    async def search(
        self,
        vector_store_ids: list[str],
        query: str,
        vector: Vector,
        *,
        limit: int,
        file_ids: set[str] | None = None,
        score_threshold: float | None = None,
    ) -> list[Hit]:
        """The best ``limit`` chunks of these stores (only ``file_ids``, if given)."""

    async def file_chunks(self, vector_store_id: str, file_id: str) -> list[IndexedChunk]:
        """A file's chunks in one store, with their vectors, in order."""
        ...

    async def aclose(self) -> None:
        """Save what is worth saving and release resources (not the database)."""


def open_index(db: Database, data_dir: Path, dimensions: int) -> ChunkIndex:
    """The chunk index for ``db``'s backend; embeddings have ``dimensions`` floats."""
    if db.engine.dialect.name == "postgresql":
        from workhorse.knowledge.pg_index import PgIndex

        return PgIndex(db, dimensions)
    from workhorse.knowledge.sqlite_index import SqliteIndex

    return SqliteIndex(db, data_dir / "vectors", dimensions)


def query_words(query: str) -> list[str]:
    """The distinct words of a query, lower-cased, in order (no operators survive)."""
    return list(dict.fromkeys(word.lower() for word in _WORD.findall(query)))


def check_vector(vector: Vector, dimensions: int) -> Vector:
    """``vector`` as a contiguous 1-D float32 array of ``dimensions``, or ValueError."""
    array = np.ascontiguousarray(vector, dtype=np.float32)
    if array.shape != (dimensions,):
        raise ValueError(f"expected a vector of {dimensions} floats, got shape {array.shape}")
    return array


def check_chunks(chunks: Sequence[IndexedChunk], dimensions: int) -> list[Vector]:
    """The chunks' vectors, checked; ValueError on a wrong shape or a repeated index."""
    if len({chunk.chunk_index for chunk in chunks}) != len(chunks):
        raise ValueError("chunk_index values repeat within the file")
    return [check_vector(chunk.vector, dimensions) for chunk in chunks]


def fuse(
    by_vector: Sequence[int], by_words: Sequence[int] | None, limit: int
) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of two ranked id lists: (id, normalised score), best first.

    ``by_words`` is None when the query had no words (then only one list counts).
    """
    scores: dict[int, float] = {}
    lists = [by_vector] if by_words is None else [by_vector, by_words]
    for ranked in lists:
        for rank, key in enumerate(ranked, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (RRF_K + rank)
    best = len(lists) / (RRF_K + 1)
    fused = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [(key, min(1.0, score / best)) for key, score in fused]


def candidate_pool(limit: int) -> int:
    """How many candidates each list contributes to the fusion."""
    return min(max(2 * limit, 50), 1000)


async def read_file_chunks(db: Database, vector_store_id: str, file_id: str) -> list[IndexedChunk]:
    """A file's stored chunks with their vectors (float32 bytes, or pgvector's text)."""
    postgres = db.engine.dialect.name == "postgresql"
    vector = "CAST(embedding AS text)" if postgres else "embedding"
    query = text(
        f"SELECT chunk_index, text, location, {vector} FROM knowledge_chunks "  # noqa: S608
        "WHERE vector_store_id = :store AND file_id = :file ORDER BY chunk_index"
    )
    async with db.engine.connect() as conn:
        rows = (await conn.execute(query, {"store": vector_store_id, "file": file_id})).all()
    chunks = []
    for index, body, location, raw in rows:
        if postgres:
            values = np.array([float(x) for x in str(raw).strip("[]").split(",")], np.float32)
        else:
            values = np.frombuffer(raw, dtype=np.float32).copy()
        chunks.append(IndexedChunk(int(index), body, location, values))
    return chunks
