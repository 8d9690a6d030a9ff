"""Scaled-out mode: chunks in PostgreSQL, pgvector HNSW for meaning, tsvector for words.

``embedding`` is an unsized ``vector``; HNSW needs a fixed dimension, so the index is
an expression index on ``(embedding::vector(N))`` for the configured N, partial on
``dims = N``, created at first use (``CREATE INDEX IF NOT EXISTS``, under an advisory
lock so replicas starting together do not race). Queries spell the same expression,
with N inlined as a literal: a bound parameter would keep a generic plan from matching
the partial index.

A search counts the chunks it may return (stores, files), up to ``EXACT_MAX``: that
few are compared exactly (ordering by the uncast column, which no index serves); more
go through HNSW with pgvector's iterative scan, so a filter never starves the results.
Words: ``websearch_to_tsquery('english', …)`` over the query's words joined by ``or``
(any word may match; no operator of the user's survives), ranked by ``ts_rank_cd``.

Vectors travel as pgvector's text form (``'[0.1,…]'``, 9 significant digits: exact for
float32), cast in SQL; no adapter to register.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

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

EXACT_MAX = 16_384
"""A search over at most this many allowed chunks compares them all (exact)."""

_INDEX_LOCK = 0x57484B49  # "WHKI": creating the HNSW index
_FILE_LOCK = 0x57484B46  # "WHKF": one (store, file) replaced at a time


def vector_literal(vector: Vector) -> str:
    """pgvector's text form of a float32 vector (round-trips exactly)."""
    return "[" + ",".join(f"{x:.9g}" for x in vector.tolist()) + "]"


class PgIndex:
    """The chunk index of the scaled-out mode; see the module docstring."""

    def __init__(self, db: Database, dimensions: int) -> None:
        if not 0 < dimensions <= 2000:
            raise ValueError("pgvector's HNSW indexes vectors of 1 to 2000 dimensions")
        self._db = db
        self._dims = dimensions
        self._cast = f"(embedding::vector({dimensions}))"
        self._ready = False
        self._ready_lock = asyncio.Lock()

    async def _ensure_index(self) -> None:
        async with self._ready_lock:
            if self._ready:
                return
            n = self._dims
            async with self._db.engine.begin() as conn:
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _INDEX_LOCK})
                await conn.execute(
                    text(
                        f"CREATE INDEX IF NOT EXISTS ix_knowledge_chunks_hnsw_{n} "
                        f"ON knowledge_chunks USING hnsw ({self._cast} vector_cosine_ops) "
                        f"WHERE dims = {n}"
                    )
                )
            self._ready = True

    async def replace_file(
        self, vector_store_id: str, file_id: str, chunks: list[IndexedChunk]
    ) -> None:
        """Replace every chunk of the file in one transaction (a rerun leaves one copy)."""
        await self._ensure_index()
        vectors = check_chunks(chunks, self._dims)
        literals = await asyncio.to_thread(lambda: [vector_literal(v) for v in vectors])
        rows = [
            {
                "store": vector_store_id,
                "file": file_id,
                "index": chunk.chunk_index,
                "text": chunk.text,
                "location": chunk.location,
                "dims": self._dims,
                "embedding": literal,
            }
            for chunk, literal in zip(chunks, literals, strict=True)
        ]
        where = {"store": vector_store_id, "file": file_id}

        def work(conn: Connection) -> None:
            # Two jobs replacing the same file take turns: the second then deletes the
            # first's rows instead of colliding with them.
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:k, hashtext(:store || '/' || :file))"),
                {"k": _FILE_LOCK, **where},
            )
            conn.execute(
                text(
                    "DELETE FROM knowledge_chunks "
                    "WHERE vector_store_id = :store AND file_id = :file"
                ),
                where,
            )
            if rows:
                conn.execute(
                    text(
                        "INSERT INTO knowledge_chunks (vector_store_id, file_id, chunk_index, "
                        "text, location, dims, embedding) VALUES (:store, :file, :index, "
                        ":text, :location, :dims, CAST(:embedding AS vector))"
                    ),
                    rows,
                )

        await self._db.write(work)

    async def remove_file(self, vector_store_id: str, file_id: str) -> None:
        """Remove every chunk of the file."""
        await self.replace_file(vector_store_id, file_id, [])

    async def remove_store(self, vector_store_id: str) -> None:
        """Remove every chunk of the store."""

        def work(conn: Connection) -> None:
            conn.execute(
                text("DELETE FROM knowledge_chunks WHERE vector_store_id = :store"),
                {"store": vector_store_id},
            )

        await self._db.write(work)

    async def count(self, vector_store_id: str, file_id: str | None = None) -> int:
        """How many chunks the store (or one of its files) has."""
        sql = "SELECT count(*) FROM knowledge_chunks WHERE vector_store_id = :store"
        params = {"store": vector_store_id}
        if file_id is not None:
            sql += " AND file_id = :file"
            params["file"] = file_id
        async with self._db.engine.connect() as conn:
            found: int = (await conn.execute(text(sql), params)).scalar_one()
            return found

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
        """Hybrid search (see ``knowledge.index``): HNSW + tsvector, fused by reciprocal rank."""
        vector = check_vector(vector, self._dims)
        if limit <= 0 or not vector_store_ids or (file_ids is not None and not file_ids):
            return []
        await self._ensure_index()
        pool = candidate_pool(limit)
        words = [word for word in query_words(query) if word not in ("or", "and")]
        # ``scope`` and the other SQL built here hold only literals of this class (the
        # dimension); every value from a caller is a bound parameter.
        scope = f"dims = {self._dims} AND vector_store_id = ANY(:stores)"
        params: dict[str, Any] = {"stores": sorted(set(vector_store_ids)), "pool": pool}
        if file_ids is not None:
            scope += " AND file_id = ANY(:files)"
            params["files"] = sorted(file_ids)
        literal = await asyncio.to_thread(vector_literal, vector)
        async with self._db.engine.connect() as conn:
            by_vector = await self._nearest(conn, scope, params, literal, pool)
            by_words = None
            if words:
                found = await conn.execute(
                    text(
                        "SELECT id FROM knowledge_chunks, "  # noqa: S608 (literals only)
                        "websearch_to_tsquery('english', :words) AS query "
                        f"WHERE text_search @@ query AND {scope} "
                        "ORDER BY ts_rank_cd(text_search, query) DESC, id LIMIT :pool"
                    ),
                    {**params, "words": " or ".join(words)},
                )
                by_words = list(found.scalars())
            fused = fuse(by_vector, by_words, limit)
            rows = await conn.execute(
                text(
                    "SELECT id, vector_store_id, file_id, chunk_index, text, location "
                    "FROM knowledge_chunks WHERE id = ANY(:ids)"
                ),
                {"ids": [key for key, _ in fused]},
            )
            by_id = {row[0]: row for row in rows}
        hits = [
            Hit(row[1], row[2], row[3], row[4], row[5], score)
            for key, score in fused
            if (row := by_id.get(key)) is not None
        ]
        if score_threshold is not None:
            hits = [hit for hit in hits if hit.score >= score_threshold]
        return hits

    async def _nearest(
        self,
        conn: AsyncConnection,
        scope: str,
        params: dict[str, Any],
        literal: str,
        pool: int,
    ) -> list[int]:
        allowed = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT 1 "  # noqa: S608 (literals only)
                    f"FROM knowledge_chunks WHERE {scope} LIMIT :cap) AS allowed"
                ),
                {**params, "cap": EXACT_MAX + 1},
            )
        ).scalar_one()
        if allowed <= EXACT_MAX:
            order = "embedding <=> CAST(:q AS vector)"
        else:
            await conn.execute(text(f"SET LOCAL hnsw.ef_search = {min(1000, max(100, 2 * pool))}"))
            await conn.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
            order = f"{self._cast} <=> CAST(:q AS vector({self._dims}))"
        found = await conn.execute(
            text(
                f"SELECT id, {order} AS distance "  # noqa: S608 (literals only)
                f"FROM knowledge_chunks WHERE {scope} "
                f"ORDER BY {order} LIMIT :pool"
            ),
            {**params, "q": literal},
        )
        # relaxed_order may return neighbours slightly out of order.
        return [row[0] for row in sorted(found, key=lambda row: (row[1], row[0]))]

    async def file_chunks(self, vector_store_id: str, file_id: str) -> list[IndexedChunk]:
        """A file's chunks in one store, with their vectors, in order."""
        return await read_file_chunks(self._db, vector_store_id, file_id)

    async def aclose(self) -> None:
        """Nothing to release: the database belongs to the caller."""
