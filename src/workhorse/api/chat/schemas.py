"""Wire shapes of ``POST /v1/chat/completions`` (OpenAI's Chat Completions API)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workhorse.api.shared import Cursor, MetadataMap, when
from workhorse.api.vector_stores.schemas import FileSearch


class TextPart(BaseModel):
    """A text content part."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: str


class ChatMessageIn(BaseModel):
    """One message of the conversation sent by the client."""

    model_config = ConfigDict(
        extra="forbid",
        # Only an assistant's message may come without content.
        json_schema_extra=when(
            "role",
            "assistant",
            {},
            {"required": ["content"], "properties": {"content": {"type": ["string", "array"]}}},
        ),
    )
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None
    name: str | None = Field(default=None, max_length=64)
    refusal: str | None = None

    @model_validator(mode="after")
    def _content_required(self) -> ChatMessageIn:
        if self.content is None and self.role != "assistant":
            raise ValueError(f"content is required for role {self.role!r}")
        return self

    def text(self) -> str:
        """The message's text, parts joined."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(BaseModel):
    """Options for streamed responses."""

    model_config = ConfigDict(extra="forbid")
    include_usage: bool = False


class ResponseFormat(BaseModel):
    """The output format the model must produce."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None


class ChatCompletionRequest(BaseModel):
    """A chat completion request."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=when(
            "stream", True, {}, {"properties": {"stream_options": {"type": "null"}}}
        ),
    )

    model: str = Field(min_length=1, max_length=256)
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=4096)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    seed: int | None = None
    stop: (
        Annotated[str, Field(min_length=1)]
        | Annotated[list[Annotated[str, Field(min_length=1)]], Field(max_length=4)]
        | None
    ) = None
    # What the server refuses (UnsupportedParameter) the document says it cannot take.
    n: int | None = Field(default=None, ge=1, le=128, json_schema_extra={"maximum": 1})
    stream: bool = False
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = Field(
        default=None,
        json_schema_extra={
            "not": {"properties": {"type": {"const": "json_schema"}}, "required": ["type"]}
        },
    )
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    user: str | None = Field(default=None, max_length=256)
    metadata: MetadataMap | None = None
    store: bool | None = None
    service_tier: str | None = None
    logprobs: bool | None = Field(default=None, json_schema_extra={"not": {"const": True}})
    top_logprobs: int | None = Field(default=None, ge=0, le=20, json_schema_extra={"maximum": 0})
    logit_bias: dict[str, float] | None = Field(
        default=None, json_schema_extra={"maxProperties": 0}
    )
    tools: list[dict[str, Any]] | None = Field(default=None, json_schema_extra={"maxItems": 0})
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    file_search: FileSearch | None = None
    """Workhorse extension: answer from these vector stores (as the Responses API's
    ``file_search`` tool); the results come back in ``file_search_results``."""

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        stops = [value] if isinstance(value, str) else value or []
        if len(stops) > 4:
            raise ValueError("at most 4 stop sequences")
        if any(not s for s in stops):
            raise ValueError("stop sequences must not be empty")
        return value

    @model_validator(mode="after")
    def _stream_options_need_stream(self) -> ChatCompletionRequest:
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options is only allowed when stream is true")
        return self

    def stop_list(self) -> list[str]:
        """Stop sequences as a list."""
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])

    def output_limit(self) -> int | None:
        """``max_completion_tokens``, or the older ``max_tokens``."""
        return self.max_completion_tokens or self.max_tokens


class ChatMessageOut(BaseModel):
    """The assistant's answer."""

    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: str | None = None


class ChatChoice(BaseModel):
    """One answer (Workhorse produces exactly one)."""

    index: int
    message: ChatMessageOut
    logprobs: None = None
    finish_reason: Literal["stop", "length"]


class Usage(BaseModel):
    """Token accounting."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    """A complete chat completion."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    system_fingerprint: str | None = None
    file_search_results: list[dict[str, Any]] | None = None
    """Workhorse extension: what ``file_search`` found and gave the model."""


class ChatCompletionChunk(BaseModel):
    """One server-sent event of a streamed chat completion (documented for OpenAPI)."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: Usage | None = None
    system_fingerprint: str | None = None


class StoredChatCompletionObject(ChatCompletion):
    """A completion created with ``store: true``, as listed and retrieved."""

    metadata: dict[str, str] = {}


class StoredChatCompletionList(BaseModel):
    object: Literal["list"] = "list"
    data: list[StoredChatCompletionObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class ChatCompletionDeleted(BaseModel):
    object: Literal["chat.completion.deleted"] = "chat.completion.deleted"
    id: str
    deleted: bool = True


class ChatCompletionUpdateRequest(BaseModel):
    """``POST /v1/chat/completions/{id}``: the completion's new metadata (null clears it)."""

    model_config = ConfigDict(extra="forbid")
    metadata: MetadataMap | None


class StoredListQuery(BaseModel):
    """Query parameters of ``GET /v1/chat/completions`` (``metadata[k]=v`` apart)."""

    model: str | None = Field(default=None, max_length=256)
    after: Cursor = None
    limit: int = Field(default=20, ge=1, le=100)
    order: Literal["asc", "desc"] = "asc"


class StoredMessage(BaseModel):
    """One message of a stored completion's request."""

    id: str
    role: str
    content: str | None
    name: str | None = None
    content_parts: None = None


class StoredMessageList(BaseModel):
    object: Literal["list"] = "list"
    data: list[StoredMessage]
    first_id: str | None
    last_id: str | None
    has_more: bool


class MessageListQuery(BaseModel):
    """Query parameters of ``GET /v1/chat/completions/{id}/messages``."""

    after: Cursor = None
    limit: int = Field(default=20, ge=1, le=100)
    order: Literal["asc", "desc"] = "asc"
