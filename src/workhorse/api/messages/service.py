"""Anthropic Messages: Anthropic request in, generation on any chat model, Anthropic answer out.

Stop reasons: ``length`` is ``max_tokens`` (``model_context_window_exceeded`` when the
context window, not the client's ``max_tokens``, set the limit); ``stop`` is
``stop_sequence`` when the model says which sequence matched (llama.cpp models always do,
OpenAI-compatible upstreams only when they report it, as vLLM does), else ``end_turn``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

from workhorse.api.messages.schemas import (
    Message,
    MessageCountTokensRequest,
    MessageCreateRequest,
    MessagesInput,
    MessageTextOut,
    MessageTokensCount,
    MessageUsage,
    StopReason,
    text_of,
)
from workhorse.container import Container
from workhorse.errors import UnsupportedParameter, WorkhorseError
from workhorse.governance.meter import Meter
from workhorse.http.sse import SSEEvent
from workhorse.obs.generation import watched
from workhorse.providers.base import (
    ChatMessage,
    ChatModel,
    Finish,
    Generation,
    GenerationParams,
    TextDelta,
)

_COMPACT = (",", ":")


def _refuse_unsupported(request: MessagesInput) -> None:
    if request.tools or request.tool_choice:
        raise UnsupportedParameter("tools are not supported on the Messages API", param="tools")
    if request.thinking and request.thinking.get("type") != "disabled":
        raise UnsupportedParameter("extended thinking is not supported", param="thinking")


def chat_messages(request: MessagesInput) -> list[ChatMessage]:
    """The system prompt, then the turns, as protocol-neutral messages."""
    messages = [ChatMessage(role=m.role, content=m.text()) for m in request.messages]
    if request.system is not None:
        # A string or blocks, even empty: what the client sent is what the model sees.
        messages.insert(0, ChatMessage(role="system", content=text_of(request.system)))
    return messages


def generation_params(request: MessageCreateRequest) -> GenerationParams:
    """The protocol-neutral generation request; 400 for what no model here can do."""
    _refuse_unsupported(request)
    return GenerationParams(
        messages=chat_messages(request),
        max_tokens=request.max_tokens,
        temperature=request.temperature,
        top_p=request.top_p,
        top_k=request.top_k,
        stop=list(request.stop_sequences or []),
        user=request.metadata.user_id if request.metadata else None,
    )


def stop_reason(finish: Finish, *, window_limited: bool = False) -> StopReason:
    """Anthropic's ``stop_reason`` for how a generation ended; ``window_limited`` when
    ``max_tokens`` was lowered to what the context window had left."""
    if finish.finish_reason == "length":
        return "model_context_window_exceeded" if window_limited else "max_tokens"
    if finish.finish_reason == "tool_calls":
        return "tool_use"
    return "stop_sequence" if finish.stop_sequence is not None else "end_turn"


def _message_id() -> str:
    return "msg_" + secrets.token_hex(12)


async def _fit_window(model: ChatModel, params: GenerationParams) -> GenerationParams:
    """``max_tokens`` within the room the prompt leaves in a known context window.

    ``max_tokens`` is required here and clients send large ones (4096 and up) that a small
    local window cannot hold; like Anthropic's newest models, generate up to the window and
    say so (``model_context_window_exceeded``) rather than refuse.
    """
    if model.context_window is None or params.max_tokens is None:
        return params
    room = model.context_window - await model.count_tokens(params.messages)
    if room <= 0 or params.max_tokens <= room:
        return params  # a prompt that fills the window is the model's own 400
    return replace(params, max_tokens=room)


async def _start(
    container: Container, meter: Meter, request: MessageCreateRequest, params: GenerationParams
) -> tuple[Generation, bool]:
    """The started generation, and whether ``max_tokens`` was lowered to fit the window."""
    model = await container.models.chat_model(request.model)
    fitted = await _fit_window(model, params)
    generation = await watched(
        container.metrics, container.tracing, "messages", model, meter.start(model, fitted), fitted
    )
    return generation, fitted.max_tokens != params.max_tokens


async def create(container: Container, meter: Meter, request: MessageCreateRequest) -> Message:
    """Run the generation to its end and return the whole message."""
    params = replace(generation_params(request), incremental=False)
    generation, window_limited = await _start(container, meter, request, params)
    parts: list[str] = []
    finish: Finish | None = None
    try:
        async for event in generation:
            if isinstance(event, TextDelta):
                parts.append(event.text)
            elif isinstance(event, Finish):
                finish = event
    finally:
        await generation.aclose()
    if finish is None:
        raise WorkhorseError(f"model {request.model!r} ended without finishing")
    message_id = _message_id()
    if request.store:
        await _keep(container, meter, request, message_id, "".join(parts))
    return Message(
        id=message_id,
        content=[MessageTextOut(text="".join(parts))],
        model=request.model,
        stop_reason=stop_reason(finish, window_limited=window_limited),
        stop_sequence=finish.stop_sequence if finish.finish_reason == "stop" else None,
        usage=MessageUsage(
            input_tokens=finish.prompt_tokens, output_tokens=finish.completion_tokens
        ),
    )


async def _keep(
    container: Container, meter: Meter, request: MessageCreateRequest, message_id: str, text: str
) -> None:
    asked = [{"role": m.role, "content": m.content} for m in chat_messages(request)]
    await container.stored_messages.add(
        meter.project_id, meter.api_key_id, message_id, request.model, asked, text
    )


async def count_tokens(
    container: Container, request: MessageCountTokensRequest
) -> MessageTokensCount:
    """Prompt tokens the request's system prompt and turns take on its model."""
    _refuse_unsupported(request)
    model = await container.models.chat_model(request.model)
    return MessageTokensCount(input_tokens=await model.count_tokens(chat_messages(request)))


async def start_stream(
    container: Container, meter: Meter, request: MessageCreateRequest, request_id: str | None
) -> AsyncIterator[SSEEvent]:
    """Start the generation (errors raise here) and return its events."""
    params = generation_params(request)
    generation, window_limited = await _start(container, meter, request, params)
    kept = None
    if request.store:

        async def kept(message_id: str, text: str) -> None:
            await _keep(container, meter, request, message_id, text)

    events = stream_events(
        generation, request.model, request_id, window_limited=window_limited, kept=kept
    )
    return _ClosingEvents(generation, events)


class _ClosingEvents:
    """Events whose ``aclose`` always stops the generation: an async generator closed
    before its first step (a client gone before the first event) skips its ``finally``."""

    def __init__(self, generation: Generation, events: AsyncGenerator[SSEEvent, None]) -> None:
        self._generation = generation
        self._events = events

    def __aiter__(self) -> _ClosingEvents:
        return self

    async def __anext__(self) -> SSEEvent:
        return await anext(self._events)

    async def aclose(self) -> None:
        try:
            await self._events.aclose()
        finally:
            await self._generation.aclose()


def _event(name: str, **fields: Any) -> SSEEvent:
    data = json.dumps({"type": name, **fields}, ensure_ascii=False, separators=_COMPACT)
    return SSEEvent(data, event=name)


async def stream_events(
    generation: Generation,
    model: str,
    request_id: str | None,
    *,
    window_limited: bool = False,
    kept: Callable[[str, str], Awaitable[None]] | None = None,
) -> AsyncGenerator[SSEEvent, None]:
    """Anthropic's event sequence: message_start, content_block_start, ping, deltas,
    content_block_stop, message_delta, message_stop (``kept`` stores the whole answer
    before its last events, so a reader finds it)."""
    start = Message(
        id=_message_id(),
        content=[],
        model=model,
        stop_reason=None,
        stop_sequence=None,
        usage=MessageUsage(input_tokens=generation.prompt_tokens, output_tokens=0),
    )
    parts: list[str] = []
    try:
        yield _event("message_start", message=start.model_dump(mode="json"))
        yield _event("content_block_start", index=0, content_block={"type": "text", "text": ""})
        yield _event("ping")
        async for event in generation:
            if isinstance(event, TextDelta):
                if event.text:
                    parts.append(event.text)
                    delta = {"type": "text_delta", "text": event.text}
                    yield _event("content_block_delta", index=0, delta=delta)
                continue
            if not isinstance(event, Finish):
                continue  # tools are refused before a message starts
            if kept is not None:
                await kept(start.id, "".join(parts))
            yield _event("content_block_stop", index=0)
            stop_sequence = event.stop_sequence if event.finish_reason == "stop" else None
            yield _event(
                "message_delta",
                delta={
                    "stop_reason": stop_reason(event, window_limited=window_limited),
                    "stop_sequence": stop_sequence,
                },
                # Upstreams may report the prompt's count only at the end.
                usage={
                    "input_tokens": event.prompt_tokens,
                    "output_tokens": event.completion_tokens,
                },
            )
            yield _event("message_stop")
            return
        raise WorkhorseError(f"model {model!r} ended without finishing")
    except WorkhorseError as exc:
        # Headers are gone: the error travels as an event, as Anthropic's own streams do.
        error = exc.to_anthropic_dict(request_id)
        yield SSEEvent(json.dumps(error, ensure_ascii=False, separators=_COMPACT), event="error")
    finally:
        await generation.aclose()
