"""Chat completions: OpenAI request in, generation on a model, OpenAI answer out."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

from workhorse.api.chat.schemas import (
    ChatChoice,
    ChatCompletion,
    ChatCompletionRequest,
    ChatMessageOut,
    Usage,
)
from workhorse.api.chat.stored import keep
from workhorse.api.vector_stores.grounding import ground
from workhorse.container import Container
from workhorse.errors import UnsupportedParameter, WorkhorseError
from workhorse.governance.meter import Meter
from workhorse.obs.generation import watched
from workhorse.providers.base import ChatMessage, Finish, Generation, GenerationParams, TextDelta

FINGERPRINT = "fp_workhorse"
_COMPACT = (",", ":")


def generation_params(request: ChatCompletionRequest) -> GenerationParams:
    """The protocol-neutral generation request; 400 for what no model here can do."""
    if request.n not in (None, 1):
        raise UnsupportedParameter("only n=1 is supported", param="n")
    if request.logprobs or request.top_logprobs:
        raise UnsupportedParameter("logprobs are not supported", param="logprobs")
    if request.logit_bias:
        raise UnsupportedParameter("logit_bias is not supported", param="logit_bias")
    if request.tools:
        raise UnsupportedParameter("tools are not supported on chat completions", param="tools")
    if request.response_format and request.response_format.type == "json_schema":
        raise UnsupportedParameter(
            "response_format json_schema is not supported; use json_object",
            param="response_format",
        )
    messages = [
        ChatMessage(
            role="system" if m.role == "developer" else m.role,
            content=m.text(),
        )
        for m in request.messages
    ]
    return GenerationParams(
        messages=messages,
        max_tokens=request.output_limit(),
        temperature=request.temperature,
        top_p=request.top_p,
        seed=request.seed,
        stop=request.stop_list(),
        json_mode=request.response_format is not None
        and request.response_format.type == "json_object",
        frequency_penalty=request.frequency_penalty or 0.0,
        presence_penalty=request.presence_penalty or 0.0,
        user=request.user,
    )


def _completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


async def _start(
    container: Container, meter: Meter, request: ChatCompletionRequest, params: GenerationParams
) -> tuple[Generation, list[dict[str, Any]] | None]:
    """The started generation, and the file search results it was given (if asked)."""
    model = await container.models.chat_model(request.model)
    results = None
    if request.file_search is not None:
        asked = [m.text() for m in request.messages if m.role == "user"]
        grounding = await ground(
            container,
            meter,
            request.file_search,
            asked[-1] if asked else "",
            context_window=model.context_window,
        )
        excerpts = grounding.message()
        if excerpts is not None:
            params = replace(params, messages=[excerpts, *params.messages])
        results = grounding.result_items()
    generation = await watched(
        container.metrics, container.tracing, "chat", model, meter.start(model, params), params
    )
    return generation, results


async def complete(
    container: Container, meter: Meter, request: ChatCompletionRequest
) -> ChatCompletion:
    """Run the generation to its end and return the whole answer."""
    params = replace(generation_params(request), incremental=False)
    generation, results = await _start(container, meter, request, params)
    parts: list[str] = []
    finish: Finish | None = None
    async for event in generation:
        if isinstance(event, TextDelta):
            parts.append(event.text)
        elif isinstance(event, Finish):
            finish = event
    if finish is None:
        raise WorkhorseError(f"model {request.model!r} ended without finishing")
    completion = _whole(request, "".join(parts), finish, results)
    if request.store:
        store = container.chat_completions
        await keep(store, meter.project_id, meter.api_key_id, request, completion)
    return completion


def _whole(
    request: ChatCompletionRequest,
    text: str,
    finish: Finish,
    results: list[dict[str, Any]] | None,
    completion_id: str | None = None,
) -> ChatCompletion:
    """The whole answer of a finished generation."""
    return ChatCompletion(
        id=completion_id or _completion_id(),
        created=int(time.time()),
        model=request.model,
        choices=[
            ChatChoice(
                index=0,
                message=ChatMessageOut(content=text),
                finish_reason=finish.finish_reason,
            )
        ],
        usage=Usage(
            prompt_tokens=finish.prompt_tokens,
            completion_tokens=finish.completion_tokens,
            total_tokens=finish.prompt_tokens + finish.completion_tokens,
        ),
        system_fingerprint=FINGERPRINT,
        file_search_results=results,
    )


async def start_stream(
    container: Container, meter: Meter, request: ChatCompletionRequest
) -> tuple[AsyncIterator[str], Generation]:
    """Start the generation (errors raise here); its SSE payloads, and the generation to
    close when the client leaves."""
    generation, results = await _start(container, meter, request, generation_params(request))
    include_usage = bool(request.stream_options and request.stream_options.include_usage)
    completion_id = _completion_id()
    kept = None
    if request.store:

        async def kept(text: str, finish: Finish) -> None:
            completion = _whole(request, text, finish, None, completion_id)
            await keep(
                container.chat_completions, meter.project_id, meter.api_key_id, request, completion
            )

    chunks = _chunks(generation, request.model, include_usage, results, completion_id, kept)
    return chunks, generation


async def _chunks(
    generation: Generation,
    model: str,
    include_usage: bool,
    results: list[dict[str, Any]] | None,
    completion_id: str,
    kept: Callable[[str, Finish], Awaitable[None]] | None,
) -> AsyncIterator[str]:
    base: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": FINGERPRINT,
    }
    if include_usage:
        base["usage"] = None
    first = {**base, "file_search_results": results} if results is not None else base

    def chunk(
        delta: dict[str, Any], finish_reason: str | None = None, head: dict[str, Any] = base
    ) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return json.dumps({**head, "choices": [choice]}, ensure_ascii=False, separators=_COMPACT)

    try:
        yield chunk({"role": "assistant", "content": "", "refusal": None}, head=first)
        parts: list[str] = []
        async for event in generation:
            if isinstance(event, TextDelta):
                parts.append(event.text)
                yield chunk({"content": event.text})
                continue
            if not isinstance(event, Finish):
                continue  # tools are refused before a chat completion starts
            if kept is not None:  # stored before its last chunks: a reader finds it
                await kept("".join(parts), event)
            yield chunk({}, event.finish_reason)
            if include_usage:
                usage = {
                    "prompt_tokens": event.prompt_tokens,
                    "completion_tokens": event.completion_tokens,
                    "total_tokens": event.prompt_tokens + event.completion_tokens,
                }
                yield json.dumps({**base, "choices": [], "usage": usage}, separators=_COMPACT)
    except WorkhorseError as exc:
        # Headers are gone: the error travels as an event, as OpenAI's own streams do.
        yield json.dumps(exc.to_dict())
        return
    finally:
        await generation.aclose()
    yield "[DONE]"
