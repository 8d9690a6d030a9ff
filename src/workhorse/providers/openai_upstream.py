"""Chat models proxied to an OpenAI-compatible upstream (vLLM, llama.cpp's server, ...).

Upstream failures are translated here: a 4xx answer keeps its status and message (the
request was at fault), a 5xx becomes 502, a timeout 504, and a connection failure 502.
The upstream's API key is sent to it and never appears in an error or a log.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from workhorse.config import UpstreamSettings
from workhorse.errors import (
    InvalidRequest,
    NotFound,
    RateLimited,
    UnsupportedParameter,
    UpstreamError,
    UpstreamTimeout,
    WorkhorseError,
)
from workhorse.providers.base import (
    ChatMessage,
    Finish,
    FinishReason,
    Generation,
    GenerationEvent,
    GenerationParams,
    TextDelta,
    ToolCall,
    ToolCallDone,
    upper_bound_tokens,
)

_CLIENT_ERRORS: dict[int, type[WorkhorseError]] = {
    400: InvalidRequest,
    404: NotFound,
    413: InvalidRequest,
    422: InvalidRequest,
    429: RateLimited,
}


class OpenAIUpstream:
    """One upstream server: its HTTP client, shared by the models routed to it."""

    def __init__(self, settings: UpstreamSettings) -> None:
        self.settings = settings
        headers = {}
        if settings.api_key is not None:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        self.client = httpx.AsyncClient(
            base_url=str(settings.base_url).rstrip("/") + "/",
            headers=headers,
            timeout=httpx.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s),
        )

    def models(self) -> list[UpstreamChatModel]:
        """A chat model per configured model id."""
        return [UpstreamChatModel(model_id, self) for model_id in self.settings.models]

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self.client.aclose()


def _wire_message(message: ChatMessage) -> dict[str, Any]:
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        wire["content"] = message.content or None
        wire["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.tool_call_id is not None:
        wire["tool_call_id"] = message.tool_call_id
    return wire


def _wire_tool_choice(choice: str | dict[str, object]) -> str | dict[str, object]:
    if isinstance(choice, dict) and "name" in choice and "function" not in choice:
        return {"type": "function", "function": {"name": choice["name"]}}
    return choice


UNCAPPED_OUTPUT_RESERVED = 4096
"""Output tokens a token limit reserves for an upstream answer asked without max_tokens
(the upstream's own default applies; the reservation settles to what it reports)."""


class UpstreamChatModel:
    """A model id served by an upstream."""

    created = 0
    context_window: int | None = None
    supports_tools = True

    def __init__(self, model_id: str, upstream: OpenAIUpstream) -> None:
        self.id = model_id
        self.owned_by = upstream.settings.name
        self._upstream = upstream

    def _body(self, params: GenerationParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.id,
            "messages": [_wire_message(m) for m in params.messages],
        }
        if params.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        k: v
                        for k, v in {
                            "name": t.name,
                            "description": t.description,
                            "parameters": t.parameters,
                            "strict": t.strict,
                        }.items()
                        if v is not None
                    },
                }
                for t in params.tools
            ]
        if params.tool_choice is not None:
            body["tool_choice"] = _wire_tool_choice(params.tool_choice)
        if params.incremental:
            body.update(stream=True, stream_options={"include_usage": True})
        optional = {
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            # Not OpenAI's, but vLLM's and llama.cpp's; OpenAI itself answers 400, relayed.
            "top_k": params.top_k,
            "seed": params.seed,
            "stop": params.stop or None,
            "user": params.user,
            "frequency_penalty": params.frequency_penalty or None,
            "presence_penalty": params.presence_penalty or None,
            "response_format": _response_format(params),
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return body

    async def start(self, params: GenerationParams) -> Generation:
        """Open the upstream stream; raise its error before any event is produced."""
        if params.assistant_prefix:
            raise UnsupportedParameter(
                f"model {self.id!r} cannot continue a partial answer (served by an upstream)"
            )
        name = self._upstream.settings.name
        client = self._upstream.client
        request = client.build_request("POST", "chat/completions", json=self._body(params))
        try:
            response = await client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"upstream {name!r} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(f"upstream {name!r} is unreachable") from exc
        if response.status_code >= 400:
            try:
                await response.aread()
            except httpx.HTTPError:
                pass
            finally:
                await response.aclose()
            raise _upstream_error(name, response)
        if params.incremental:
            return UpstreamGeneration(name, response)
        return await _whole_answer(name, response)

    async def reservation_tokens(self, params: GenerationParams) -> int:
        """A bound, not a count: asking the upstream would cost a call of its own."""
        return upper_bound_tokens(params, params.max_tokens or UNCAPPED_OUTPUT_RESERVED)

    async def count_tokens(self, messages: list[ChatMessage]) -> int:
        """The upstream's own count: a one-token completion reports the prompt's usage."""
        params = GenerationParams(messages=messages, max_tokens=1, incremental=False)
        generation = await self.start(params)
        async for event in generation:
            if isinstance(event, Finish):
                return event.prompt_tokens
        return generation.prompt_tokens

    async def aclose(self) -> None:
        """Nothing to release: the upstream owns the client."""


def _upstream_error(name: str, response: httpx.Response) -> WorkhorseError:
    message, param, code = f"upstream {name!r} answered {response.status_code}", None, None
    try:
        error = response.json().get("error", {})
        if isinstance(error, dict):
            message = f"upstream {name!r}: {error.get('message') or message}"
            param, code = error.get("param"), error.get("code")
        elif isinstance(error, str):
            message = f"upstream {name!r}: {error}"
    except (ValueError, AttributeError):
        pass
    cls = _CLIENT_ERRORS.get(response.status_code, UpstreamError)
    headers = {}
    if cls is RateLimited:
        headers["Retry-After"] = response.headers.get("retry-after", "1")
    return cls(
        message,
        param=param if isinstance(param, str) else None,
        code=code if isinstance(code, str) else None,
        headers=headers,
    )


async def _whole_answer(name: str, response: httpx.Response) -> CompletedGeneration:
    try:
        await response.aread()
        answer = response.json()
        choice = answer["choices"][0]
        text = choice["message"].get("content") or ""
        calls = [
            ToolCallDone(ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"]))
            for c in choice["message"].get("tool_calls") or []
        ]
        usage = answer.get("usage") or {}
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(f"upstream {name!r} stopped answering") from exc
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise UpstreamError(f"upstream {name!r} sent an answer that is not a completion") from exc
    finally:
        await response.aclose()
    return CompletedGeneration(
        [TextDelta(text)] if text else [],
        calls,
        Finish(
            _finish_reason(choice.get("finish_reason"), calls),
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
            _stop_sequence(choice),
        ),
    )


def _finish_reason(reason: object, calls: list[ToolCallDone]) -> FinishReason:
    if calls or reason == "tool_calls":
        return "tool_calls"
    return "length" if reason == "length" else "stop"


def _stop_sequence(choice: dict[str, Any]) -> str | None:
    # vLLM says which stop string ended the text; the OpenAI API does not.
    stop = choice.get("stop_reason")
    return stop if isinstance(stop, str) else None


class CompletedGeneration:
    """A generation that already ended: replays its events."""

    def __init__(self, deltas: list[TextDelta], calls: list[ToolCallDone], finish: Finish) -> None:
        self._events: list[GenerationEvent] = [*deltas, *calls, finish]
        self.prompt_tokens = finish.prompt_tokens
        self.completion_tokens = finish.completion_tokens

    async def __aiter__(self) -> AsyncIterator[GenerationEvent]:
        for event in self._events:
            yield event

    async def aclose(self) -> None:
        """Nothing to release."""


class UpstreamGeneration:
    """Events parsed from an upstream's ``chat.completion.chunk`` stream."""

    def __init__(self, name: str, response: httpx.Response) -> None:
        self._name = name
        self._response = response
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self._calls: dict[int, dict[str, str]] = {}

    def _add_call_delta(self, delta: dict[str, Any]) -> None:
        call = self._calls.setdefault(
            int(delta.get("index") or 0), {"id": "", "name": "", "arguments": ""}
        )
        call["id"] = delta.get("id") or call["id"]
        function = delta.get("function") or {}
        call["name"] += function.get("name") or ""
        call["arguments"] += function.get("arguments") or ""

    async def __aiter__(self) -> AsyncIterator[GenerationEvent]:
        reason: object = "stop"
        stop_sequence: str | None = None
        prompt_tokens = completion_tokens = pieces = 0
        try:
            async for line in self._response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                if "error" in chunk:
                    raise UpstreamError(f"upstream {self._name!r} failed mid-stream")
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    text = delta.get("content")
                    if text:
                        pieces += 1
                        self.completion_tokens = pieces
                        yield TextDelta(text)
                    for call_delta in delta.get("tool_calls") or []:
                        self._add_call_delta(call_delta)
                    if choice.get("finish_reason"):
                        reason = choice["finish_reason"]
                        stop_sequence = _stop_sequence(choice) or stop_sequence
                usage = chunk.get("usage")
                if usage:
                    prompt_tokens = int(usage.get("prompt_tokens") or 0)
                    completion_tokens = int(usage.get("completion_tokens") or 0)
                    self.prompt_tokens = prompt_tokens
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"upstream {self._name!r} stopped answering") from exc
        except (httpx.HTTPError, ValueError) as exc:
            raise UpstreamError(f"upstream {self._name!r} broke off its stream") from exc
        finally:
            await self._response.aclose()
        calls = [
            ToolCallDone(ToolCall(c["id"], c["name"], c["arguments"]))
            for _, c in sorted(self._calls.items())
        ]
        for call in calls:
            yield call
        # Servers that ignore include_usage (llama.cpp's) send one token per chunk.
        self.completion_tokens = completion_tokens or pieces
        yield Finish(
            _finish_reason(reason, calls), prompt_tokens, self.completion_tokens, stop_sequence
        )

    async def aclose(self) -> None:
        """Close the upstream connection."""
        await self._response.aclose()


def _response_format(params: GenerationParams) -> dict[str, Any] | None:
    """JSON mode, or the JSON schema that holds an answer to its choices or a number (the
    grader reads ``label`` or ``score`` back out of it)."""
    if params.choices:
        answer = {"label": {"type": "string", "enum": list(params.choices)}}
    elif params.number:
        answer = {"score": {"type": "number"}}
    else:
        return {"type": "json_object"} if params.json_mode else None
    schema = {
        "type": "object",
        "properties": answer,
        "required": list(answer),
        "additionalProperties": False,
    }
    return {
        "type": "json_schema",
        "json_schema": {"name": "grade", "schema": schema, "strict": True},
    }
