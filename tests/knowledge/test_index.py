"""The chunk index on both databases: replace, remove, hybrid search, filters, rebuild."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest
from numpy.typing import NDArray

from workhorse.knowledge import pg_index, sqlite_index
from workhorse.knowledge.index import ChunkIndex, IndexedChunk, open_index
from workhorse.knowledge.sqlite_index import SqliteIndex
from workhorse.store.db import Database, migrate, open_database

T = TypeVar("T")
DIMS = 16


@pytest.fixture
def url(storage_mode: str, tmp_path: Path, new_database: Callable[[], str]) -> str:
    if storage_mode == "sqlite":
        return f"sqlite:///{tmp_path / 'knowledge.db'}"
    return new_database()


def unit(rng: np.random.Generator, count: int, dims: int = DIMS) -> NDArray[np.float32]:
    vectors = rng.standard_normal((count, dims)).astype(np.float32)
    normalised: NDArray[np.float32] = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return normalised


def chunks(vectors: NDArray[np.float32], texts: list[str] | None = None) -> list[IndexedChunk]:
    return [
        IndexedChunk(i, texts[i] if texts else f"plain chunk number {i}", f"page {i + 1}", v)
        for i, v in enumerate(vectors)
    ]


def run(
    url: str,
    data_dir: Path,
    scenario: Callable[[ChunkIndex, Database], Awaitable[T]],
    dims: int = DIMS,
) -> T:
    migrate(url)

    async def main() -> T:
        db = open_database(url)
        index = open_index(db, data_dir, dims)
        try:
            return await scenario(index, db)
        finally:
            await index.aclose()
            await db.dispose()

    return asyncio.run(main())


def test_replacing_a_file_twice_leaves_one_copy(url: str, tmp_path: Path) -> None:
    vectors = unit(np.random.default_rng(1), 5)

    async def scenario(index: ChunkIndex, _db: Database) -> None:
        await index.replace_file("vs_a", "file_1", chunks(vectors))
        await index.replace_file("vs_a", "file_1", chunks(vectors))
        assert await index.count("vs_a") == 5
        assert await index.count("vs_a", "file_1") == 5
        hits = await index.search(["vs_a"], "", vectors[2], limit=10)
        assert [h.chunk_index for h in hits].count(2) == 1
        assert hits[0].chunk_index == 2
        assert hits[0].location == "page 3"
        # A retry with fewer chunks leaves only those.
        await index.replace_file("vs_a", "file_1", chunks(vectors[:2]))
        assert await index.count("vs_a") == 2
        assert len(await index.search(["vs_a"], "", vectors[0], limit=10)) == 2

    run(url, tmp_path, scenario)


def test_concurrent_replacements_of_one_file_leave_one_copy(url: str, tmp_path: Path) -> None:
    vectors = unit(np.random.default_rng(2), 20)

    async def scenario(index: ChunkIndex, _db: Database) -> None:
        await asyncio.gather(*(index.replace_file("vs_a", "f", chunks(vectors)) for _ in range(4)))
        assert await index.count("vs_a") == 20
        hits = await index.search(["vs_a"], "", vectors[0], limit=50)
        assert sorted(h.chunk_index for h in hits) == list(range(20))

    run(url, tmp_path, scenario)


def test_remove_file_and_remove_store(url: str, tmp_path: Path) -> None:
    vectors = unit(np.random.default_rng(3), 6)

    async def scenario(index: ChunkIndex, _db: Database) -> None:
        await index.replace_file("vs_a", "f1", chunks(vectors[:3]))
        await index.replace_file("vs_a", "f2", chunks(vectors[3:]))
        await index.replace_file("vs_b", "f1", chunks(vectors[:3]))
        await index.remove_file("vs_a", "f1")
        assert await index.count("vs_a") == 3
        assert await index.count("vs_a", "f1") == 0
        hits = await index.search(["vs_a"], "plain chunk", vectors[0], limit=10)
        assert {h.file_id for h in hits} == {"f2"}
        await index.remove_store("vs_a")
        assert await index.count("vs_a") == 0
        assert await index.search(["vs_a"], "plain chunk", vectors[0], limit=10) == []
        assert await index.count("vs_b") == 3
        # A removed store can be filled again.
        await index.replace_file("vs_a", "f3", chunks(vectors[:1]))
        hits = await index.search(["vs_a"], "", vectors[0], limit=10)
        assert [(h.file_id, h.chunk_index) for h in hits] == [("f3", 0)]

    run(url, tmp_path, scenario)


def test_a_rare_word_finds_a_chunk_whose_vector_is_far(url: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    vectors = unit(rng, 200)
    query = vectors[0]
    texts = [f"ordinary words about topic {i % 7}" for i in range(200)]
    # The chunk with the rare word is the one farthest from the query vector.
    far = int(np.argmin(vectors @ query))
    texts[far] = "the zorblax coupling manual"

    async def scenario(index: ChunkIndex, _db: Database) -> None:
        await index.replace_file("vs_a", "f", chunks(vectors, texts))
        hits = await index.search(["vs_a"], "Zorblax", query, limit=5)
        assert far in [h.chunk_index for h in hits]
        assert hits[0].chunk_index in (0, far)
        # With no word in common, the vector alone ranks: the nearest first.
        hits = await index.search(["vs_a"], "unrelated query", query, limit=5)
        assert hits[0].chunk_index == 0
        assert far not in [h.chunk_index for h in hits]

    run(url, tmp_path, scenario)


def test_scores_are_fused_ranks_normalised_and_thresholds_drop_hits(
    url: str, tmp_path: Path
) -> None:
    rng = np.random.default_rng(5)
    vectors = unit(rng, 50)
    texts = [f"filler {i}" for i in range(50)]
    texts[0] = "the quokka handbook"

    async def scenario(index: ChunkIndex, _db: Database) -> None:
        await index.replace_file("vs_a", "f", chunks(vectors, texts))
        hits = await index.search(["vs_a"], "quokka", vectors[0], limit=10)
        # First by meaning and by words: the top score.
        assert hits[0].chunk_index == 0
        assert hits[0].score == pytest.approx(1.0)
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 <= s <= 1.0 for s in scores)
        # The others are found by meaning only: at most half.
        assert all(s <= 0.5 for s in scores[1:])
        kept = await index.search(["vs_a"], "quokka", vectors[0], limit=10, score_threshold=0.6)
        assert [h.chunk_index for h in kept] == [0]
        # A query of no words ranks by the vector alone, and its best scores 1.
        alone = await index.search(["vs_a"], "", vectors[3], limit=3)
        assert alone[0].chunk_index == 3
        assert alone[0].score == pytest.approx(1.0)

    run(url, tmp_path, scenario)


def test_file_ids_restrict_results_even_when_very_selective(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A smaller exact-search limit, so that a few thousand chunks exercise both paths.
    monkeypatch.setattr(sqlite_index, "EXACT_MAX", 1_000)
    monkeypatch.setattr(pg_index, "EXACT_MAX", 1_000)
    rng = np.random.default_rng(6)
    per_file, files = 100, 60
    vectors = unit(rng, per_file * files)
    query = unit(rng, 1)[0]

    async def scenario(index: ChunkIndex, _db: Database) -> None:
        for f in range(files):
            part = vectors[f * per_file : (f + 1) * per_file]
            await index.replace_file("vs_a", f"file_{f}", chunks(part))
        allowed = {"file_7"}
        hits = await index.search(["vs_a"], "", query, limit=5, file_ids=allowed)
        expected = np.argsort(-(vectors[7 * per_file : 8 * per_file] @ query))[:5]
        assert [h.file_id for h in hits] == ["file_7"] * 5
        assert [h.chunk_index for h in hits] == [int(i) for i in expected]
        # A filter allowing more than the exact-search limit goes through the ANN index
        # (over-fetching); it still finds the allowed chunk nearest to the query.
        allowed = {f"file_{f}" for f in range(0, files, 2)}
        hits = await index.search(["vs_a"], "chunk number", query, limit=10, file_ids=allowed)
        assert len(hits) == 10
        assert {h.file_id for h in hits} <= allowed
        best = max(
            (float(vectors[int(h.file_id[5:]) * per_file + h.chunk_index] @ query), h.file_id)
            for h in hits
        )
        everything = [(f, i) for f in range(0, files, 2) for i in range(per_file)]
        exact = max(float(vectors[f * per_file + i] @ query) for f, i in everything)
        assert best[0] == pytest.approx(exact, abs=1e-5)
        assert await index.search(["vs_a"], "chunk", query, limit=5, file_ids=set()) == []

    run(url, tmp_path, scenario)


def test_search_spans_several_stores(url: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    vectors = unit(rng, 40)

    async def scenario(index: ChunkIndex, _db: Database) -> None:
        await index.replace_file("vs_a", "fa", chunks(vectors[:20]))
        await index.replace_file("vs_b", "fb", chunks(vectors[20:]))
        await index.replace_file("vs_c", "fc", chunks(vectors))
        hits = await index.search(["vs_a", "vs_b"], "", vectors[25], limit=3)
        assert (hits[0].vector_store_id, hits[0].file_id, hits[0].chunk_index) == (
            "vs_b",
            "fb",
            5,
        )
        both = await index.search(["vs_a", "vs_b"], "", vectors[2], limit=40)
        assert {h.vector_store_id for h in both} == {"vs_a", "vs_b"}
        assert len(both) == 40

    run(url, tmp_path, scenario)


def test_sqlite_ann_index_is_rebuilt_from_stored_vectors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'knowledge.db'}"
    rng = np.random.default_rng(8)
    # Fewer vectors than usearch's expansion_search: the search sees them all, so a
    # rebuilt graph (built on several threads, in another order) ranks the same.
    vectors = unit(rng, 100)
    queries = unit(rng, 10)
    saved = tmp_path / "vectors" / "vs_a.usearch"

    async def fill(index: ChunkIndex, _db: Database) -> list[list[tuple[str, int]]]:
        await index.replace_file("vs_a", "f1", chunks(vectors[:50]))
        await index.replace_file("vs_a", "f2", chunks(vectors[50:]))
        await index.remove_file("vs_a", "f1")
        await index.replace_file("vs_a", "f1", chunks(vectors[:50]))
        return [
            [(h.file_id, h.chunk_index) for h in await index.search(["vs_a"], "", q, limit=10)]
            for q in queries
        ]

    async def again(index: ChunkIndex, _db: Database) -> list[list[tuple[str, int]]]:
        return [
            [(h.file_id, h.chunk_index) for h in await index.search(["vs_a"], "", q, limit=10)]
            for q in queries
        ]

    before = run(url, tmp_path, fill)
    assert saved.exists()
    saved.unlink()
    assert run(url, tmp_path, again) == before
    assert saved.exists()

    async def explicit(index: ChunkIndex, _db: Database) -> list[list[tuple[str, int]]]:
        assert isinstance(index, SqliteIndex)
        await index.rebuild("vs_a")
        return await again(index, _db)

    assert run(url, tmp_path, explicit) == before


def test_sqlite_stale_saved_index_is_rebuilt(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'knowledge.db'}"
    rng = np.random.default_rng(9)
    vectors = unit(rng, 40)

    async def first(index: ChunkIndex, _db: Database) -> None:
        await index.replace_file("vs_a", "f1", chunks(vectors[:20]))

    run(url, tmp_path, first)
    stale = (tmp_path / "vectors" / "vs_a.usearch").read_bytes()
    stale_meta = (tmp_path / "vectors" / "vs_a.json").read_text()

    async def second(index: ChunkIndex, _db: Database) -> None:
        await index.replace_file("vs_a", "f2", chunks(vectors[20:]))

    run(url, tmp_path, second)
    # An older saved index (a crash before the last save) is noticed by its generation.
    (tmp_path / "vectors" / "vs_a.usearch").write_bytes(stale)
    (tmp_path / "vectors" / "vs_a.json").write_text(stale_meta)

    async def check(index: ChunkIndex, _db: Database) -> None:
        hits = await index.search(["vs_a"], "", vectors[30], limit=1)
        assert (hits[0].file_id, hits[0].chunk_index) == ("f2", 10)

    run(url, tmp_path, check)


def test_sqlite_sees_writes_of_another_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'knowledge.db'}"
    vectors = unit(np.random.default_rng(10), 10)
    migrate(url)

    async def scenario() -> None:
        db_a, db_b = open_database(url), open_database(url)
        reader = open_index(db_a, tmp_path, DIMS)
        writer = open_index(db_b, tmp_path / "other", DIMS)
        try:
            await writer.replace_file("vs_a", "f", chunks(vectors[:5]))
            assert len(await reader.search(["vs_a"], "", vectors[0], limit=10)) == 5
            await writer.replace_file("vs_a", "g", chunks(vectors[5:]))
            hits = await reader.search(["vs_a"], "", vectors[7], limit=10)
            assert len(hits) == 10
            assert (hits[0].file_id, hits[0].chunk_index) == ("g", 2)
        finally:
            for index in (reader, writer):
                await index.aclose()
            await db_a.dispose()
            await db_b.dispose()

    asyncio.run(scenario())


def test_vectors_of_the_wrong_size_are_refused(url: str, tmp_path: Path) -> None:
    async def scenario(index: ChunkIndex, _db: Database) -> None:
        with pytest.raises(ValueError, match="16"):
            await index.replace_file("vs_a", "f", chunks(unit(np.random.default_rng(1), 2, 8)))
        with pytest.raises(ValueError, match="16"):
            await index.search(["vs_a"], "x", np.zeros(4, np.float32), limit=3)

    run(url, tmp_path, scenario)
