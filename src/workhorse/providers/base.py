"""What every chat model and embedder offers, whatever serves it.

A chat model turns ``GenerationParams`` into a stream of ``TextDelta`` events closed by
one ``Finish``. ``ChatModel.start`` returns only once the request was accepted (queued
and validated), so errors such as a full queue or an over-long prompt reach the client
as an HTTP error before any byte of a stream is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class ChatMessage:
    """One turn of a conversation, as plain text."""

    role: Role
    content: str


@dataclass(frozen=True)
class GenerationParams:
    """A generation request, independent of the wire protocol that carried it."""

    messages: list[ChatMessage]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    json_mode: bool = False
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    user: str | None = None
    incremental: bool = True
    """False when the caller only wants the whole answer (lets an upstream skip streaming)."""


@dataclass(frozen=True)
class TextDelta:
    """The next piece of generated text."""

    text: str


@dataclass(frozen=True)
class Finish:
    """The end of a generation, with its token accounting."""

    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int


GenerationEvent = TextDelta | Finish


class Generation(Protocol):
    """A generation in progress; iterate it for events, close it to stop early."""

    def __aiter__(self) -> AsyncIterator[GenerationEvent]: ...

    async def aclose(self) -> None:
        """Stop generating (within one token) and release the model."""


class ChatModel(Protocol):
    """A model that answers chat messages."""

    id: str
    owned_by: str
    created: int

    async def start(self, params: GenerationParams) -> Generation:
        """Queue and validate ``params``; raise a WorkhorseError if they cannot run."""
        ...

    async def aclose(self) -> None:
        """Release the model's resources."""


@dataclass(frozen=True)
class Embeddings:
    """Vectors for a batch of inputs, in input order."""

    vectors: list[list[float]]
    prompt_tokens: int


class Embedder(Protocol):
    """A model that turns texts into vectors."""

    id: str
    owned_by: str
    created: int
    dimensions: int

    async def embed(self, texts: list[str]) -> Embeddings:
        """Vectors for ``texts``."""
        ...

    async def aclose(self) -> None:
        """Release the model's resources."""
