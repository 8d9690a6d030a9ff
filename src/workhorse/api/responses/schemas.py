"""Wire shapes of ``/v1/responses`` (OpenAI's Responses API)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workhorse.api.conversations.items import InputItem
from workhorse.api.shared import Cursor, Includable, MetadataMap, rules, when
from workhorse.api.vector_stores.schemas import FileSearch


class FunctionTool(BaseModel):
    """A function the model may call (passed to upstreams that support tools)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["function"]
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FileSearchTool(FileSearch):
    """Search vector stores and answer from what is found (run by Workhorse, any model)."""

    type: Literal["file_search"]


Tool = Annotated[FunctionTool | FileSearchTool, Field(discriminator="type")]


class FunctionChoice(BaseModel):
    """Force a call of one function."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["function"]
    name: str


class ConversationRef(BaseModel):
    """A conversation named by an object."""

    model_config = ConfigDict(extra="forbid")
    id: str


class TextFormat(BaseModel):
    """The output format."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["text", "json_object"]


class TextOptions(BaseModel):
    """Options for text output."""

    model_config = ConfigDict(extra="forbid")
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ResponseStreamOptions(BaseModel):
    """Options for streamed responses (accepted; obfuscation is never added)."""

    model_config = ConfigDict(extra="forbid")
    include_obfuscation: bool | None = None


class ResponseCreateRequest(BaseModel):
    """A request for a model response."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=rules(
            when("stream", True, {}, {"properties": {"stream_options": {"type": "null"}}}),
            when("background", True, {"properties": {"store": {"const": True}}}),
            # Something to answer: input, or the history of a response or a conversation.
            {
                "anyOf": [
                    {
                        "required": ["input"],
                        "properties": {"input": {"type": ["string", "array"], "minItems": 1}},
                    },
                    {
                        "required": ["previous_response_id"],
                        "properties": {"previous_response_id": {"type": "string"}},
                    },
                    {
                        "required": ["conversation"],
                        "properties": {"conversation": {"type": ["string", "object"]}},
                    },
                ]
            },
            # Not both a conversation and a previous response.
            {
                "not": {
                    "required": ["conversation", "previous_response_id"],
                    "properties": {
                        "conversation": {"type": ["string", "object"]},
                        "previous_response_id": {"type": "string"},
                    },
                }
            },
        ),
    )

    model: str = Field(min_length=1, max_length=256)
    input: str | list[InputItem] | None = Field(default=None, max_length=4096)
    instructions: str | None = Field(default=None, max_length=1_000_000)
    conversation: str | ConversationRef | None = None
    previous_response_id: str | None = Field(default=None, max_length=64)
    store: bool = True
    background: bool = False
    stream: bool = False
    stream_options: ResponseStreamOptions | None = None
    metadata: MetadataMap | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    truncation: Literal["auto", "disabled"] = "disabled"
    tools: list[Tool] | None = Field(
        default=None,
        max_length=128,
        # At most one file_search tool.
        json_schema_extra={
            "contains": {"properties": {"type": {"const": "file_search"}}, "required": ["type"]},
            "minContains": 0,
            "maxContains": 1,
        },
    )
    tool_choice: Literal["none", "auto", "required"] | FunctionChoice | None = None
    parallel_tool_calls: bool | None = None
    text: TextOptions | None = None
    include: list[Includable] | None = None
    user: str | None = Field(default=None, max_length=256)
    safety_identifier: str | None = Field(default=None, max_length=256)
    prompt_cache_key: str | None = Field(default=None, max_length=256)
    service_tier: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ResponseCreateRequest:
        if self.conversation is not None and self.previous_response_id is not None:
            raise ValueError("conversation and previous_response_id cannot be used together")
        if self.background and not self.store:
            raise ValueError("background responses must be stored (store=true)")
        if sum(isinstance(t, FileSearchTool) for t in self.tools or []) > 1:
            raise ValueError("at most one file_search tool")
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options is only allowed when stream is true")
        return self

    def function_tools(self) -> list[FunctionTool]:
        """The function tools (passed to the model)."""
        return [t for t in self.tools or [] if isinstance(t, FunctionTool)]

    def file_search(self) -> FileSearchTool | None:
        """The file_search tool, if any (run here, before the model)."""
        found = [t for t in self.tools or [] if isinstance(t, FileSearchTool)]
        return found[0] if found else None

    def conversation_id(self) -> str | None:
        """The conversation's id, however it was given."""
        if isinstance(self.conversation, ConversationRef):
            return self.conversation.id
        return self.conversation


class ResponseObject(BaseModel):
    """A response (documented for OpenAPI and SOAP; built as JSON by the service)."""

    id: str
    object: Literal["response"] = "response"
    created_at: int
    completed_at: int | None = None
    status: Literal["queued", "in_progress", "completed", "incomplete", "failed", "cancelled"]
    background: bool
    model: str
    output: list[dict[str, Any]]
    usage: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    incomplete_details: dict[str, Any] | None = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    previous_response_id: str | None = None
    conversation: dict[str, Any] | None = None
    store: bool
    temperature: float | None = None
    top_p: float | None = None
    truncation: str
    truncated_items: int = 0
    """Workhorse extension: the oldest items dropped to fit the context (truncation auto)."""
    tools: list[dict[str, Any]]
    tool_choice: Any = None
    parallel_tool_calls: bool
    metadata: dict[str, str]
    user: str | None = None


class SoapUsage(BaseModel):
    """Token accounting of a response, for SOAP."""

    input_tokens: int
    output_tokens: int
    total_tokens: int


class ResponseSummary(BaseModel):
    """A response as SOAP returns it: typed essentials, the answer as text."""

    id: str
    status: str
    model: str
    created_at: int
    output_text: str
    usage: SoapUsage | None = None
    incomplete_reason: str | None = None
    error_message: str | None = None
    previous_response_id: str | None = None
    truncated_items: int = 0

    @classmethod
    def of(cls, response: dict[str, Any]) -> ResponseSummary:
        """The summary of a response object."""
        used = response.get("usage")
        return cls(
            id=response["id"],
            status=response["status"],
            model=response["model"],
            created_at=response["created_at"],
            output_text="".join(
                part.get("text", "")
                for item in response["output"]
                if item["type"] == "message"
                for part in item["content"]
            ),
            usage=SoapUsage(
                input_tokens=used["input_tokens"],
                output_tokens=used["output_tokens"],
                total_tokens=used["total_tokens"],
            )
            if used
            else None,
            incomplete_reason=(response.get("incomplete_details") or {}).get("reason"),
            error_message=(response.get("error") or {}).get("message"),
            previous_response_id=response.get("previous_response_id"),
            truncated_items=response.get("truncated_items", 0),
        )


class ResponseDeleted(BaseModel):
    """The answer to a delete."""

    id: str
    object: Literal["response"] = "response"
    deleted: bool = True


class InputItemList(BaseModel):
    """A page of a response's input items."""

    object: Literal["list"] = "list"
    data: list[dict[str, Any]]
    first_id: str | None
    last_id: str | None
    has_more: bool


class InputItemsQuery(BaseModel):
    """Query parameters of ``GET /v1/responses/{id}/input_items``."""

    model_config = ConfigDict(extra="forbid")
    after: Cursor = None
    limit: int = Field(default=20, ge=1, le=100)
    order: Literal["asc", "desc"] = "desc"
    include: list[Includable] | None = None


class RetrieveQuery(BaseModel):
    """Query parameters of ``GET /v1/responses/{id}``."""

    model_config = ConfigDict(extra="forbid")
    stream: bool = False
    starting_after: int | None = Field(default=None, ge=-1)
    include: list[Includable] | None = None
    include_obfuscation: bool | None = None
