"""Embedding models served in-process on sentence-transformers (CPU)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from workhorse.errors import InvalidRequest, WorkhorseError
from workhorse.providers.base import Embeddings, ModelObserver
from workhorse.providers.serial import SerialRunner


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local folder."""

    def __init__(
        self,
        model_id: str,
        path: Path,
        *,
        runner: SerialRunner,
        observer: ModelObserver | None = None,
    ) -> None:
        self.id = model_id
        self._observer = observer
        self.owned_by = "workhorse"
        self.created = int(path.stat().st_mtime) if path.exists() else int(time.time())
        self.path = path
        self.dimensions = 0
        self.max_input_tokens = 0
        self._runner = runner
        self._model: Any = None

    def load(self) -> None:
        """Load the weights (blocking; call from a worker thread)."""
        # Imported here: torch takes seconds to import and only this model needs it.
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

        try:
            model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        except (OSError, ValueError) as exc:
            raise WorkhorseError(f"cannot load embedding model {self.id!r}") from exc
        dimensions = model.get_embedding_dimension()
        if dimensions is None:
            raise WorkhorseError(f"embedding model {self.id!r} does not declare its dimensions")
        self.dimensions = dimensions
        self.max_input_tokens = model.max_seq_length or 0
        self._model = model

    def _encode(self, texts: list[str]) -> Embeddings:
        model = self._model
        features = model.preprocess(texts)
        prompt_tokens = int(features["attention_mask"].sum())
        vectors = model.encode(
            texts,
            batch_size=32,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,  # its "Batches" bar would land in the log
        )
        return Embeddings([row.tolist() for row in vectors], prompt_tokens)

    async def embed(self, texts: list[str]) -> Embeddings:
        """Unit-length vectors for ``texts``; inputs past the model's window are truncated."""
        if self._model is None:
            raise WorkhorseError(f"embedding model {self.id!r} is not loaded")
        if any(not t for t in texts):
            raise InvalidRequest("input must not contain empty strings", param="input")

        started = time.perf_counter()
        embeddings = await asyncio.wrap_future(self._runner.submit(lambda: self._encode(texts)))
        if self._observer is not None:
            elapsed = time.perf_counter() - started
            self._observer.embedded(self.id, len(texts), embeddings.prompt_tokens, elapsed)
        return embeddings

    async def aclose(self) -> None:
        """Free the model."""
        self._runner.shutdown()
        self._model = None
