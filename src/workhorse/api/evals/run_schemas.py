"""Wire shapes of ``/v1/evals/{eval_id}/runs``: runs, their data sources, output items."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workhorse.api.evals.schemas import Name, TemplateMessage
from workhorse.api.shared import Cursor, MetadataMap, rules
from workhorse.api.vector_stores.schemas import FileSearch


class SourceItem(BaseModel):
    """One item, with the sample to grade when it was made elsewhere."""

    model_config = ConfigDict(extra="forbid")
    item: dict[str, Any]
    sample: dict[str, Any] | None = None


class FileContentSource(BaseModel):
    """Items given inline."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["file_content"]
    content: list[SourceItem] = Field(min_length=1, max_length=10_000)


class FileIdSource(BaseModel):
    """Items from an uploaded JSONL file, one ``{"item": …, "sample": …}`` a line (a
    feedback dataset, ``POST /v1/feedback/datasets``, is one)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["file_id"]
    id: str = Field(min_length=1, max_length=64)


class StoredCompletionsSource(BaseModel):
    """Items from the caller's stored chat completions (``store: true``)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["stored_completions"]
    model: str | None = Field(default=None, max_length=400)
    metadata: MetadataMap | None = None
    created_after: int | None = Field(default=None, ge=0, le=2**40, description="Unix seconds")
    created_before: int | None = Field(default=None, ge=0, le=2**40, description="Unix seconds")
    limit: int | None = Field(default=None, ge=1, le=100_000)


class ResponsesSource(BaseModel):
    """Items from the caller's stored responses."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["responses"]
    model: str | None = Field(default=None, max_length=400)
    metadata: MetadataMap | None = None
    created_after: int | None = Field(default=None, ge=0, le=2**40, description="Unix seconds")
    created_before: int | None = Field(default=None, ge=0, le=2**40, description="Unix seconds")
    instructions_search: str | None = Field(default=None, max_length=1024)
    limit: int | None = Field(default=None, ge=1, le=100_000)


class TemplateInput(BaseModel):
    """Input messages made from each item by templates."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["template"]
    template: list[TemplateMessage] = Field(min_length=1, max_length=64)


class ItemReferenceInput(BaseModel):
    """Input messages (or a text) held by each item, e.g. ``item.input``."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["item_reference"]
    item_reference: str = Field(min_length=1, max_length=256)


InputMessages = Annotated[TemplateInput | ItemReferenceInput, Field(discriminator="type")]


class SamplingParams(BaseModel):
    """How the run's model samples."""

    model_config = ConfigDict(extra="forbid")
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=32_768)
    reasoning_effort: str | None = None


class EvalFileSearchTool(FileSearch):
    """The ``file_search`` tool: the model answers from these vector stores."""

    type: Literal["file_search"]


class ResponsesSamplingParams(SamplingParams):
    """How the run's model samples, with the tools it may use."""

    tools: list[EvalFileSearchTool] | None = Field(default=None, max_length=1)


_MODEL_WITH_MESSAGES = rules(
    {"dependentRequired": {"input_messages": ["model"], "model": ["input_messages"]}}
)


class _Generating(BaseModel):
    """A data source whose ``model`` answers its ``input_messages`` (both or neither)."""

    model: str | None = Field(default=None, min_length=1, max_length=400)
    input_messages: InputMessages | None = None

    @model_validator(mode="after")
    def _model_with_messages(self) -> _Generating:
        if (self.model is None) != (self.input_messages is None):
            raise ValueError("model and input_messages are given together (or neither)")
        return self


class JsonlDataSource(BaseModel):
    """Items with their samples: nothing is generated."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["jsonl"]
    source: Annotated[FileContentSource | FileIdSource, Field(discriminator="type")]


class CompletionsDataSource(_Generating):
    """Items answered by ``model`` through chat completions (or stored answers graded as
    they are, without a model)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_MODEL_WITH_MESSAGES)
    type: Literal["completions"]
    source: Annotated[
        FileContentSource | FileIdSource | StoredCompletionsSource, Field(discriminator="type")
    ]
    sampling_params: SamplingParams | None = None
    file_search: FileSearch | None = None
    """Workhorse extension: the model answers from these vector stores (as the
    ``file_search`` tool), so a knowledge base can be evaluated."""


class ResponsesDataSource(_Generating):
    """Items answered by ``model`` as the Responses API would (its ``file_search`` tool
    included), or stored responses graded as they are."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_MODEL_WITH_MESSAGES)
    type: Literal["responses"]
    source: Annotated[
        FileContentSource | FileIdSource | ResponsesSource, Field(discriminator="type")
    ]
    sampling_params: ResponsesSamplingParams | None = None


DataSource = Annotated[
    JsonlDataSource | CompletionsDataSource | ResponsesDataSource, Field(discriminator="type")
]


class RunCreateRequest(BaseModel):
    """A run of the eval over a data source."""

    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    data_source: DataSource
    metadata: MetadataMap | None = None


class SoapRunCreateRequest(RunCreateRequest):
    """``CreateEvalRun`` over SOAP: the eval named in the body (REST: in the path)."""

    eval_id: str = Field(min_length=1, max_length=64)


class ResultCounts(BaseModel):
    total: int
    passed: int
    failed: int
    errored: int


class PerModelUsage(BaseModel):
    model_name: str
    invocation_count: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_tokens: int


class PerCriterionResult(BaseModel):
    testing_criteria: str
    passed: int
    failed: int


class RunError(BaseModel):
    code: str
    message: str


class RunObject(BaseModel):
    """A run: its status, counts and usage so far."""

    object: Literal["eval.run"] = "eval.run"
    id: str
    eval_id: str
    name: str
    model: str | None
    status: Literal["queued", "in_progress", "completed", "failed", "canceled"]
    created_at: int
    data_source: dict[str, Any]
    metadata: dict[str, str]
    error: RunError | None
    report_url: str
    """Where its output items are (``GET`` with the same key)."""
    result_counts: ResultCounts
    per_model_usage: list[PerModelUsage]
    per_testing_criteria_results: list[PerCriterionResult]


class RunList(BaseModel):
    object: Literal["list"] = "list"
    data: list[RunObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class RunListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    after: Cursor = None
    limit: int = Field(default=20, ge=1, le=100)
    order: Literal["asc", "desc"] = "asc"
    status: Literal["queued", "in_progress", "completed", "canceled", "failed"] | None = None


class RunDeleted(BaseModel):
    object: Literal["eval.run.deleted"] = "eval.run.deleted"
    deleted: Literal[True] = True
    run_id: str


class OutputItemObject(BaseModel):
    """One graded item: each criterion's result and the sample it graded."""

    object: Literal["eval.run.output_item"] = "eval.run.output_item"
    id: str
    run_id: str
    eval_id: str
    created_at: int
    status: Literal["pass", "fail", "error"]
    datasource_item_id: int
    datasource_item: dict[str, Any]
    results: list[dict[str, Any]]
    sample: dict[str, Any]


class OutputItemList(BaseModel):
    object: Literal["list"] = "list"
    data: list[OutputItemObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class OutputItemListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    after: Cursor = None
    limit: int = Field(default=20, ge=1, le=100)
    order: Literal["asc", "desc"] = "asc"
    status: Literal["pass", "fail", "error"] | None = None
