"""Wire shapes of ``POST /v1/messages`` and ``/v1/messages/count_tokens`` (Anthropic's API).

Only text content is served: a block of any other type (image, document, tool_use,
tool_result, thinking) is a 400 naming it, e.g. ``messages[0].content[1]``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)
from pydantic_core import PydanticCustomError

ANTHROPIC_VERSIONS = ("2023-01-01", "2023-06-01", "2026-10-21")
"""``anthropic-version`` values served; the wire format is the same for all of them here."""

StopReason = Literal[
    "end_turn", "max_tokens", "stop_sequence", "tool_use", "model_context_window_exceeded"
]


class CacheControl(BaseModel):
    """A prompt-caching hint; accepted and ignored (llama.cpp reuses shared prefixes)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] | None = None


class MessageTextBlock(BaseModel):
    """A text content block."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: str
    cache_control: CacheControl | None = None

    @model_validator(mode="before")
    @classmethod
    def _text_only(cls, data: object) -> object:
        # Before the fields: one error for the whole block, not one per unknown field.
        if isinstance(data, dict) and data.get("type") != "text":
            raise PydanticCustomError(
                "unsupported_block",
                "only 'text' content blocks are supported, not {kind}",
                {"kind": repr(data.get("type"))},
            )
        return data


def _content_form(value: object) -> str | None:
    if value is None:
        return "none"
    if isinstance(value, str):
        return "str"
    return "list" if isinstance(value, list) else None


_CONTENT_FORM = Discriminator(
    _content_form,
    custom_error_type="invalid_content",
    custom_error_message="must be a string or a list of text blocks",
)
# Tagged so that a bad block is reported at its own path (messages[0].content[1].type)
# rather than as "not a string"; the tags are left out of the reported path.
TextContent = Annotated[
    Annotated[str, Tag("str")] | Annotated[list[MessageTextBlock], Tag("list")],
    _CONTENT_FORM,
]
# None inside the tagged union, not around it: one flat union reads as text in the WSDL.
OptionalTextContent = Annotated[
    Annotated[str, Tag("str")]
    | Annotated[list[MessageTextBlock], Tag("list")]
    | Annotated[None, Tag("none")],
    _CONTENT_FORM,
]


class MessageParam(BaseModel):
    """One turn of the conversation."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: TextContent

    def text(self) -> str:
        """The turn's text, blocks joined."""
        return text_of(self.content)


def text_of(content: str | list[MessageTextBlock]) -> str:
    """A string, or text blocks joined."""
    if isinstance(content, str):
        return content
    return "".join(block.text for block in content)


class MessageMetadata(BaseModel):
    """Request metadata."""

    model_config = ConfigDict(extra="forbid")
    user_id: str | None = Field(default=None, max_length=256)


class MessagesInput(BaseModel):
    """What a prompt is made of: the model, the turns, the system prompt."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=256)
    messages: list[MessageParam] = Field(min_length=1, max_length=4096)
    system: OptionalTextContent = None
    tools: list[dict[str, Any]] | None = Field(default=None, json_schema_extra={"maxItems": 0})
    """Refused with 400: no tool use on this API yet."""
    tool_choice: dict[str, Any] | None = Field(default=None, json_schema_extra={"type": "null"})
    """Refused with 400 along with ``tools``."""
    thinking: dict[str, Any] | None = Field(
        default=None,
        json_schema_extra={
            "anyOf": [
                {"type": "null"},
                {"type": "object", "maxProperties": 0},
                {
                    "type": "object",
                    "properties": {"type": {"const": "disabled"}},
                    "required": ["type"],
                },
            ]
        },
    )
    """Refused with 400 unless disabled: no extended thinking."""


class MessageCreateRequest(MessagesInput):
    """A Messages API request."""

    max_tokens: int = Field(ge=1)
    stop_sequences: list[Annotated[str, Field(min_length=1)]] | None = Field(
        default=None, max_length=16
    )
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    metadata: MessageMetadata | None = None
    service_tier: Literal["auto", "standard_only"] | None = None
    """Accepted and ignored: there is one tier."""
    stream: bool = False
    store: bool = False
    """Workhorse extension: keep the exchange so that ``/v1/feedback`` can rate it
    (subject type ``message``, by the answer's ``id``)."""


class MessageCountTokensRequest(MessagesInput):
    """A token-count request: the prompt part of a Messages API request."""


class MessageUsage(BaseModel):
    """Token accounting."""

    input_tokens: int
    output_tokens: int


class MessageTextOut(BaseModel):
    """A text block of the answer."""

    type: Literal["text"] = "text"
    text: str


class Message(BaseModel):
    """The assistant's answer."""

    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    content: list[MessageTextOut]
    model: str
    stop_reason: StopReason | None
    stop_sequence: str | None
    usage: MessageUsage


class MessageTokensCount(BaseModel):
    """Prompt tokens a request would take."""

    input_tokens: int


class MessageStreamEvent(BaseModel):
    """One server-sent event of a streamed message (documented for OpenAPI).

    ``type`` is also the SSE ``event:`` name: ``message_start``, ``content_block_start``,
    ``ping``, ``content_block_delta``, ``content_block_stop``, ``message_delta``,
    ``message_stop``, or ``error``.
    """

    type: str
    message: dict[str, Any] | None = None
    index: int | None = None
    content_block: dict[str, Any] | None = None
    delta: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
