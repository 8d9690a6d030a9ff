"""The approximate-nearest-neighbour index of one vector store (embedded mode, usearch).

Keys are chunk row ids (``knowledge_chunks.id``, never reused on SQLite), so a hit maps
to its row without a side table. The index lives in memory and is saved as
``<stem>.usearch`` with ``<stem>.json`` beside it recording the generation it holds;
it can always be rebuilt from the stored vectors.

Threads: searches and saves share a readers-writer lock; adds and removals take it alone
(usearch may grow its storage during an add, which concurrent searches must not see).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from usearch.index import Index

# Chosen with bench/search.py (clustered 384-d vectors) on the 2-core dev machine; see
# docs/benchmarks.md, "Knowledge search":
# - cosine metric: the caller's vectors are unit length, and distance 1 - cos maps
#   straight to a similarity.
# - f16 storage: half the memory of f32 (0.77 GB instead of 1.5 GB of vectors at 1M) at
#   no recall cost: exact search over f16-rounded vectors finds the same top 10 as over
#   f32 for all 200 bench queries at 1M, so re-ranking with the stored f32 vectors would
#   buy nothing.
# - connectivity 32 (HNSW "M"): with 16 the graph itself capped recall@10 at 1M near
#   0.94 however wide the search (0.934 at expansion_search 512, 0.942 at 2048); with 32
#   it reaches 0.977 (1,528 MiB instead of 1,272 MiB with the vectors).
# - expansion_add 64 (efConstruction): building is the expensive part on 2 cores and a
#   rebuild after a crash must stay in minutes. 64 costs about 1.3x the CPU of the old
#   16/64 build; 128 lifts recall@10 at 1M to 1.000 (even at expansion_search 128) but
#   costs about 2.6x (nearly half an hour for 1M on 2 cores).
# - expansion_search 256 (ef): at 1M, recall@10 0.977 at p50 2.7 ms; 128 gives 0.954,
#   512 and wider buy nothing more (0.977-0.979) at 1.6-12x the latency. usearch widens
#   it to the count asked when a search asks for more results.
DTYPE = "f16"
CONNECTIVITY = 32
EXPANSION_ADD = 64
EXPANSION_SEARCH = 256
SETTINGS: dict[str, str | int] = {
    "metric": "cos",
    "dtype": DTYPE,
    "connectivity": CONNECTIVITY,
    "expansion_add": EXPANSION_ADD,
    "expansion_search": EXPANSION_SEARCH,
}
"""The usearch settings of every vector store's index (recorded in each saved file)."""


def new_index(dimensions: int) -> Index:
    """An empty usearch index as Workhorse configures it."""
    return Index(
        ndim=dimensions,
        metric="cos",
        dtype=DTYPE,
        connectivity=CONNECTIVITY,
        expansion_add=EXPANSION_ADD,
        expansion_search=EXPANSION_SEARCH,
    )


class ReadWriteLock:
    """Many readers or one writer; a waiting writer holds back new readers."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writing or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            while self._writing or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


@dataclass
class AnnIndex:
    """One store's usearch index, the store generation it reflects, and its lock."""

    dimensions: int
    generation: int
    index: Index
    dirty: bool = False
    """Changed since it was last saved."""
    stale: bool = False
    """Known not to match the database (a failed write): rebuild before use."""
    lock: ReadWriteLock = field(default_factory=ReadWriteLock)
    saving: threading.Lock = field(default_factory=threading.Lock)
    """One save at a time (they share the temporary files)."""

    @classmethod
    def build(
        cls,
        dimensions: int,
        generation: int,
        keys: NDArray[np.uint64],
        vectors: NDArray[np.float32],
    ) -> AnnIndex:
        """An index of these vectors (built on every core)."""
        index = new_index(dimensions)
        if len(keys):
            index.add(keys, vectors, threads=0)
        return cls(dimensions, generation, index, dirty=True)

    def __len__(self) -> int:
        return len(self.index)

    def search(self, vector: NDArray[np.float32], count: int) -> list[tuple[int, float]]:
        """Up to ``count`` nearest keys with their cosine similarity, nearest first."""
        with self.lock.read():
            if not len(self.index) or count <= 0:
                return []
            matches = self.index.search(vector, count, threads=1)
        keys = matches.keys.tolist()
        similarities = (1.0 - matches.distances).tolist()
        return list(zip(keys, similarities, strict=True))

    def apply(
        self,
        generation: int,
        removed: list[int],
        added_keys: NDArray[np.uint64],
        added_vectors: NDArray[np.float32],
    ) -> None:
        """Apply one committed change, or mark the index stale if it missed one."""
        with self.lock.write():
            if self.stale or self.generation != generation - 1:
                self.stale = True
                return
            if removed:
                self.index.remove(np.asarray(removed, dtype=np.uint64))
            if len(added_keys):
                self.index.add(added_keys, added_vectors, threads=0)
            self.generation = generation
            self.dirty = True

    def save(self, stem: Path) -> None:
        """Write ``stem.usearch`` then ``stem.json``, each replaced atomically."""
        stem.parent.mkdir(parents=True, exist_ok=True)
        # Searches go on while the index is written; changes wait.
        with self.saving, self.lock.read():
            if self.stale:
                return
            generation = self.generation
            data, meta = stem.with_suffix(".usearch"), stem.with_suffix(".json")
            temporary = stem.with_suffix(".usearch.tmp")
            self.index.save(str(temporary))
            os.replace(temporary, data)
            record = {
                "generation": generation,
                "count": len(self.index),
                "dimensions": self.dimensions,
                "settings": SETTINGS,
            }
            temporary = stem.with_suffix(".json.tmp")
            temporary.write_text(json.dumps(record))
            # The record goes last: a crash between the two leaves an older generation
            # on record, which only costs a rebuild.
            os.replace(temporary, meta)
            self.dirty = False

    @classmethod
    def load(cls, stem: Path, dimensions: int, generation: int) -> AnnIndex | None:
        """The saved index if it holds exactly ``generation``; None if missing or stale."""
        try:
            record = json.loads(stem.with_suffix(".json").read_text())
        except (OSError, ValueError):
            return None
        if (
            record.get("generation") != generation
            or record.get("dimensions") != dimensions
            or record.get("settings") != SETTINGS
        ):
            return None
        index = new_index(dimensions)
        try:
            index.load(str(stem.with_suffix(".usearch")))
        except (OSError, RuntimeError, ValueError):
            return None
        if len(index) != record.get("count"):
            return None
        return cls(dimensions, generation, index)


def remove_saved(stem: Path) -> None:
    """Delete a store's saved index, if any."""
    for suffix in (".json", ".usearch"):
        stem.with_suffix(suffix).unlink(missing_ok=True)
