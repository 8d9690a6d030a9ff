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

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls"]


@dataclass(frozen=True)
class ToolCall:
    """A call of a function tool: which function, with which JSON arguments."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolSpec:
    """A function the model may call."""

    name: str
    description: str | None = None
    parameters: dict[str, object] | None = None
    strict: bool | None = None


@dataclass(frozen=True)
class ChatMessage:
    """One turn of a conversation: text, tool calls made (assistant), or a tool's result."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True)
class GenerationParams:
    """A generation request, independent of the wire protocol that carried it."""

    messages: list[ChatMessage]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    """Sample from the k likeliest tokens only (0: no limit)."""
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    json_mode: bool = False
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    user: str | None = None
    incremental: bool = True
    """False when the caller only wants the whole answer (lets an upstream skip streaming)."""
    tools: list[ToolSpec] = field(default_factory=list)
    tool_choice: str | dict[str, object] | None = None
    """``auto``, ``none``, ``required`` or ``{"type": "function", "name": ...}``."""
    choices: tuple[str, ...] = ()
    """When given, the answer is exactly one of these (an eval's ``label_model`` grader)."""
    number: bool = False
    """The answer is a number (an eval's ``score_model`` grader)."""
    assistant_prefix: str = ""
    """Text the answer already starts with: the model continues it (resumed generations)."""

    def uses_tools(self) -> bool:
        """Whether this request needs a model that understands tools."""
        return bool(self.tools) or any(m.tool_calls or m.role == "tool" for m in self.messages)


@dataclass(frozen=True)
class TextDelta:
    """The next piece of generated text."""

    text: str


@dataclass(frozen=True)
class ToolCallDone:
    """A complete tool call made by the model."""

    call: ToolCall


@dataclass(frozen=True)
class Finish:
    """The end of a generation, with its token accounting."""

    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    stop_sequence: str | None = None
    """The stop sequence that ended the text, when one did and the model says which."""


GenerationEvent = TextDelta | ToolCallDone | Finish


class Generation(Protocol):
    """A generation in progress; iterate it for events, close it to stop early.

    ``prompt_tokens`` and ``completion_tokens`` are the counts so far (the prompt's may
    be 0 until the end where the model reports it late), so a generation stopped early
    can still be accounted for.
    """

    @property
    def prompt_tokens(self) -> int: ...

    @property
    def completion_tokens(self) -> int: ...

    def __aiter__(self) -> AsyncIterator[GenerationEvent]: ...

    async def aclose(self) -> None:
        """Stop generating (within one token) and release the model."""


class ChatModel(Protocol):
    """A model that answers chat messages."""

    id: str
    owned_by: str
    created: int
    context_window: int | None
    """Tokens of prompt and answer together, when known (local models)."""
    supports_tools: bool

    async def start(self, params: GenerationParams) -> Generation:
        """Queue and validate ``params``; raise a WorkhorseError if they cannot run."""
        ...

    async def count_tokens(self, messages: list[ChatMessage]) -> int:
        """Prompt tokens ``messages`` take on this model, chat template included."""
        ...

    async def reservation_tokens(self, params: GenerationParams) -> int:
        """The most tokens ``params`` can cost, prompt and output cap together: what a
        token limit reserves before the generation starts."""
        ...

    async def aclose(self) -> None:
        """Release the model's resources."""


@dataclass(frozen=True)
class Embeddings:
    """Vectors for a batch of inputs, in input order."""

    vectors: list[list[float]]
    prompt_tokens: int


class ModelObserver(Protocol):
    """Told what model instances do, for metrics (``obs.metrics.Metrics`` is one)."""

    def waited(self, model: str, seconds: float) -> None:
        """A call waited ``seconds`` for the model instance before it ran."""

    def embedded(self, model: str, inputs: int, tokens: int, seconds: float) -> None:
        """One embedding call of ``inputs`` texts and ``tokens`` tokens took ``seconds``."""


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


def upper_bound_tokens(params: GenerationParams, output_cap: int) -> int:
    """A bound on the tokens of a prompt no tokenizer here can count (an upstream's): a
    byte-level tokenizer never makes more tokens than bytes, plus each turn's markers."""
    text = sum(len(m.content.encode()) + 8 for m in params.messages)
    return text + len(params.assistant_prefix.encode()) + output_cap
