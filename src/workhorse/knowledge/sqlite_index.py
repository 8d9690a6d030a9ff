"""Embedded mode: chunks and FTS5 words in SQLite, an in-memory usearch index per store.

One ANN index per vector store, not one global: every search is scoped to one or a
few stores, so nothing is filtered by store; a store's index is loaded, rebuilt, saved
and dropped on its own; and a small store gets a small, exact-enough graph.

Writes go through ``Database.write`` (the one writer thread): the rows, the FTS5 words
(by trigger) and the store's generation change in one transaction, and the ANN index
is updated on the same thread before the commit, so changes reach it in commit order.
A write that fails after that marks the index stale. A search first compares each
store's generation in the database with its in-memory index (another process may have
written) and reloads or rebuilds it if they differ.

Reads use plain ``sqlite3`` connections of this class, in worker threads: one thread
hop per search, and a snapshot (``BEGIN``) across its queries.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import queue
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Table, delete, insert, select, text
from sqlalchemy.engine import Connection

from workhorse.knowledge.ann import AnnIndex, remove_saved
from workhorse.knowledge.index import (
    Hit,
    IndexedChunk,
    Vector,
    candidate_pool,
    check_chunks,
    check_vector,
    fuse,
    query_words,
    read_file_chunks,
)
from workhorse.store.db import Database
from workhorse.store.tables import KnowledgeChunk

EXACT_MAX = 16_384
"""A filtered search over at most this many allowed chunks compares them all (exact)."""

MAX_OVERFETCH = 4_096
"""The most ANN candidates a filtered search asks each store for before going exact."""

_SAFE_STEM = re.compile(r"[A-Za-z0-9_-]{1,64}")

_BUMP = text(
    "INSERT INTO knowledge_index_state (vector_store_id, generation) VALUES (:store, 1) "
    "ON CONFLICT (vector_store_id) DO UPDATE SET generation = generation + 1 "
    "RETURNING generation"
)

_chunks = cast(Table, KnowledgeChunk.__table__)


class SqliteIndex:
    """The chunk index of the embedded mode; see the module docstring."""

    def __init__(self, db: Database, directory: Path, dimensions: int) -> None:
        path = db.engine.url.database
        if not path or path == ":memory:":
            raise ValueError("the embedded chunk index needs a SQLite database file")
        self._db = db
        self._path = path
        self._directory = directory
        self._dimensions = dimensions
        self._anns: dict[str, AnnIndex] = {}
        self._load_locks: dict[str, threading.Lock] = {}
        self._registry = threading.Lock()
        self._connections: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()

    # -- writes ----------------------------------------------------------------------

    async def replace_file(
        self, vector_store_id: str, file_id: str, chunks: list[IndexedChunk]
    ) -> None:
        """Replace every chunk of the file in one transaction (a rerun leaves one copy)."""
        vectors = check_chunks(chunks, self._dimensions)
        rows = [
            {
                "vector_store_id": vector_store_id,
                "file_id": file_id,
                "chunk_index": chunk.chunk_index,
                "text": chunk.text,
                "location": chunk.location,
                "dims": self._dimensions,
                "embedding": vector.tobytes(),
            }
            for chunk, vector in zip(chunks, vectors, strict=True)
        ]
        matrix = np.stack(vectors) if vectors else np.empty((0, self._dimensions), np.float32)
        await asyncio.to_thread(self._current, vector_store_id)

        def work(conn: Connection) -> None:
            where = (_chunks.c.vector_store_id == vector_store_id) & (_chunks.c.file_id == file_id)
            removed = list(conn.scalars(select(_chunks.c.id).where(where)))
            conn.execute(delete(_chunks).where(where))
            keys: list[int] = []
            if rows:
                inserted = conn.execute(
                    insert(_chunks).returning(_chunks.c.id, sort_by_parameter_order=True), rows
                )
                keys = list(inserted.scalars())
            generation = conn.execute(_BUMP, {"store": vector_store_id}).scalar_one()
            ann = self._anns.get(vector_store_id)
            if ann is not None:
                ann.apply(generation, removed, np.asarray(keys, dtype=np.uint64), matrix)

        await self._write(vector_store_id, work)

    async def remove_file(self, vector_store_id: str, file_id: str) -> None:
        """Remove every chunk of the file."""
        await self.replace_file(vector_store_id, file_id, [])

    async def remove_store(self, vector_store_id: str) -> None:
        """Remove every chunk of the store, its ANN index and its saved file."""

        def work(conn: Connection) -> None:
            conn.execute(delete(_chunks).where(_chunks.c.vector_store_id == vector_store_id))
            generation = conn.execute(_BUMP, {"store": vector_store_id}).scalar_one()
            with self._registry:
                self._anns[vector_store_id] = AnnIndex.build(
                    self._dimensions,
                    generation,
                    np.empty(0, np.uint64),
                    np.empty((0, self._dimensions), np.float32),
                )

        await self._write(vector_store_id, work)
        await asyncio.to_thread(remove_saved, self._stem(vector_store_id))

    async def _write(self, vector_store_id: str, work: Callable[[Connection], None]) -> None:
        try:
            await self._db.write(work)
        except BaseException:
            ann = self._anns.get(vector_store_id)
            if ann is not None:
                ann.stale = True
            raise

    # -- reads -----------------------------------------------------------------------

    async def count(self, vector_store_id: str, file_id: str | None = None) -> int:
        """How many chunks the store (or one of its files) has."""
        sql = "SELECT count(*) FROM knowledge_chunks WHERE vector_store_id = ?"
        params: tuple[str, ...] = (vector_store_id,)
        if file_id is not None:
            sql += " AND file_id = ?"
            params += (file_id,)

        def run() -> int:
            with self._read() as conn:
                found: int = conn.execute(sql, params).fetchone()[0]
                return found

        return await asyncio.to_thread(run)

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
        """Hybrid search (see ``knowledge.index``): ANN + FTS5, fused by reciprocal rank."""
        vector = check_vector(vector, self._dimensions)
        if limit <= 0 or not vector_store_ids or (file_ids is not None and not file_ids):
            return []
        hits = await asyncio.to_thread(
            self._search, sorted(set(vector_store_ids)), query, vector, limit, file_ids
        )
        if score_threshold is not None:
            hits = [hit for hit in hits if hit.score >= score_threshold]
        return hits

    def _search(
        self,
        stores: list[str],
        query: str,
        vector: Vector,
        limit: int,
        file_ids: set[str] | None,
    ) -> list[Hit]:
        anns = [self._current(store) for store in stores]
        pool = candidate_pool(limit)
        words = query_words(query)
        with self._read(snapshot=True) as conn:
            by_vector = self._vector_candidates(conn, stores, anns, vector, pool, file_ids)
            by_words = self._word_candidates(conn, stores, words, pool, file_ids) if words else None
            fused = fuse(by_vector, by_words, len(by_vector) + len(by_words or []))
            rows = _rows(conn, [key for key, _ in fused[: 2 * limit]])
        hits = []
        for key, score in fused:
            row = rows.get(key)
            if row is not None:
                hits.append(Hit(row[0], row[1], row[2], row[3], row[4], score))
            if len(hits) == limit:
                break
        return hits

    def _vector_candidates(
        self,
        conn: sqlite3.Connection,
        stores: list[str],
        anns: list[AnnIndex],
        vector: Vector,
        pool: int,
        file_ids: set[str] | None,
    ) -> list[int]:
        if file_ids is None:
            return _nearest(anns, vector, pool)
        allowed = _allowed_count(conn, stores, file_ids, self._dimensions, EXACT_MAX + 1)
        if allowed <= EXACT_MAX:
            return _exact(conn, stores, file_ids, self._dimensions, vector, pool)
        total = sum(len(ann) for ann in anns)
        # Over-fetch by the inverse of the allowed share, with a margin; if that still
        # yields too few allowed chunks, compare them all rather than miss any.
        wanted = min(total, MAX_OVERFETCH, math.ceil(3 * pool * total / allowed))
        candidates = _nearest(anns, vector, wanted)
        files = _files_of(conn, candidates)
        kept = [key for key in candidates if files.get(key) in file_ids][:pool]
        if len(kept) < pool and len(kept) < allowed:
            return _exact(conn, stores, file_ids, self._dimensions, vector, pool)
        return kept

    def _word_candidates(
        self,
        conn: sqlite3.Connection,
        stores: list[str],
        words: list[str],
        pool: int,
        file_ids: set[str] | None,
    ) -> list[int]:
        # Each word quoted (``\w+`` has no quote), any of them may match; BM25 ranks.
        match = " OR ".join(f'"{word}"' for word in words)
        sql = (
            "SELECT c.id FROM knowledge_chunks_fts f JOIN knowledge_chunks c ON c.id = f.rowid "
            "WHERE knowledge_chunks_fts MATCH ? AND c.dims = ? "
            "AND c.vector_store_id IN (SELECT value FROM json_each(?))"
        )
        params: list[object] = [match, self._dimensions, json.dumps(stores)]
        if file_ids is not None:
            sql += " AND c.file_id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(sorted(file_ids)))
        sql += " ORDER BY bm25(knowledge_chunks_fts) LIMIT ?"
        params.append(pool)
        return [row[0] for row in conn.execute(sql, params)]

    # -- the ANN indexes ---------------------------------------------------------------

    async def rebuild(self, vector_store_id: str) -> None:
        """Rebuild the store's ANN index from the stored vectors, and save it."""
        await asyncio.to_thread(self._current, vector_store_id, True)

    async def save(self) -> None:
        """Save every index changed since it was last saved."""
        for store, ann in list(self._anns.items()):
            if ann.dirty:
                await asyncio.to_thread(ann.save, self._stem(store))

    async def file_chunks(self, vector_store_id: str, file_id: str) -> list[IndexedChunk]:
        """A file's chunks in one store, with their vectors, in order."""
        return await read_file_chunks(self._db, vector_store_id, file_id)

    async def aclose(self) -> None:
        """Save changed indexes and close this index's read connections."""
        await self.save()
        while True:
            try:
                self._connections.get_nowait().close()
            except queue.Empty:
                break

    def _current(self, store: str, force: bool = False) -> AnnIndex:
        """The store's index, loaded or rebuilt if it lags the database (in a thread)."""
        with self._read() as conn:
            generation = _generation(conn, store)
        ann = self._anns.get(store)
        if not force and ann is not None and not ann.stale and ann.generation >= generation:
            return ann
        with self._registry:
            lock = self._load_locks.setdefault(store, threading.Lock())
        with lock:
            ann = self._anns.get(store)
            if not force and ann is not None and not ann.stale and ann.generation >= generation:
                return ann
            stem = self._stem(store)
            loaded = None if force else AnnIndex.load(stem, self._dimensions, generation)
            if loaded is None:
                loaded = self._build(store)
                loaded.save(stem)
            with self._registry:
                self._anns[store] = loaded
            return loaded

    def _build(self, store: str) -> AnnIndex:
        with self._read(snapshot=True) as conn:
            generation = _generation(conn, store)
            cursor = conn.execute(
                "SELECT id, embedding FROM knowledge_chunks "
                "WHERE vector_store_id = ? AND dims = ? ORDER BY id",
                (store, self._dimensions),
            )
            keys, vectors = _fetch_vectors(cursor, self._dimensions)
        return AnnIndex.build(self._dimensions, generation, keys.astype(np.uint64), vectors)

    def _stem(self, store: str) -> Path:
        if _SAFE_STEM.fullmatch(store):
            return self._directory / store
        return self._directory / hashlib.sha256(store.encode()).hexdigest()[:40]

    @contextmanager
    def _read(self, *, snapshot: bool = False) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._connections.get_nowait()
        except queue.Empty:
            conn = sqlite3.connect(
                self._path, timeout=10, isolation_level=None, check_same_thread=False
            )
        try:
            if snapshot:
                conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if snapshot:
                    conn.execute("COMMIT")
        except BaseException:
            conn.close()
            raise
        self._connections.put(conn)


def _generation(conn: sqlite3.Connection, store: str) -> int:
    row = conn.execute(
        "SELECT generation FROM knowledge_index_state WHERE vector_store_id = ?", (store,)
    ).fetchone()
    return int(row[0]) if row else 0


def _nearest(anns: list[AnnIndex], vector: Vector, count: int) -> list[int]:
    found = [match for ann in anns for match in ann.search(vector, count)]
    found.sort(key=lambda match: -match[1])
    return [key for key, _ in found[:count]]


def _allowed_count(
    conn: sqlite3.Connection, stores: list[str], file_ids: set[str], dims: int, cap: int
) -> int:
    row = conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM knowledge_chunks "
        "WHERE vector_store_id IN (SELECT value FROM json_each(?)) "
        "AND file_id IN (SELECT value FROM json_each(?)) AND dims = ? LIMIT ?)",
        (json.dumps(stores), json.dumps(sorted(file_ids)), dims, cap),
    ).fetchone()
    return int(row[0])


def _exact(
    conn: sqlite3.Connection,
    stores: list[str],
    file_ids: set[str],
    dims: int,
    vector: Vector,
    count: int,
) -> list[int]:
    cursor = conn.execute(
        "SELECT id, embedding FROM knowledge_chunks "
        "WHERE vector_store_id IN (SELECT value FROM json_each(?)) "
        "AND file_id IN (SELECT value FROM json_each(?)) AND dims = ?",
        (json.dumps(stores), json.dumps(sorted(file_ids)), dims),
    )
    keys, vectors = _fetch_vectors(cursor, dims)
    if not len(keys):
        return []
    similarities = vectors @ vector
    top = np.argsort(-similarities, kind="stable")[:count]
    return [int(key) for key in keys[top]]


def _fetch_vectors(
    cursor: sqlite3.Cursor, dims: int
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    keys: list[int] = []
    parts: list[NDArray[np.float32]] = [np.empty((0, dims), np.float32)]
    while batch := cursor.fetchmany(10_000):
        keys.extend(key for key, _ in batch)
        joined = b"".join(blob for _, blob in batch)
        parts.append(np.frombuffer(joined, dtype=np.float32).reshape(len(batch), dims))
    return np.asarray(keys, dtype=np.int64), np.concatenate(parts)


def _files_of(conn: sqlite3.Connection, keys: list[int]) -> dict[int, str]:
    cursor = conn.execute(
        "SELECT id, file_id FROM knowledge_chunks WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps(keys),),
    )
    return {key: file_id for key, file_id in cursor}


def _rows(
    conn: sqlite3.Connection, keys: list[int]
) -> dict[int, tuple[str, str, int, str, str | None]]:
    cursor = conn.execute(
        "SELECT id, vector_store_id, file_id, chunk_index, text, location FROM knowledge_chunks "
        "WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps(keys),),
    )
    return {row[0]: tuple(row[1:]) for row in cursor}
