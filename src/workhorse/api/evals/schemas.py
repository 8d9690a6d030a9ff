"""Wire shapes of ``/v1/evals``: evals, their testing criteria (graders) and data source
configs, as OpenAI's Evals API has them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workhorse.api.shared import Cursor, MetadataMap
from workhorse.evals.similarity import METRICS

Name = Annotated[str, Field(min_length=1, max_length=256)]


class GraderTextPart(BaseModel):
    """A text part of a grader or template message."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["input_text", "output_text"]
    text: str = Field(max_length=262_144)


class TemplateMessage(BaseModel):
    """A message of a model grader's input or of a run's template; its text may hold
    ``{{item.*}}`` and ``{{sample.*}}`` references."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant", "system", "developer"]
    content: str | GraderTextPart | list[GraderTextPart] = Field()
    type: Literal["message"] | None = None


class GraderSampling(BaseModel):
    """How a model grader samples its answer."""

    model_config = ConfigDict(extra="forbid")
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    seed: int | None = None
    max_completions_tokens: int | None = Field(default=None, ge=1, le=4096)
    reasoning_effort: str | None = None


class StringCheckGrader(BaseModel):
    """Compares two rendered strings: ``eq``, ``ne``, ``like`` (contains), ``ilike``
    (contains, ignoring case)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["string_check"]
    name: Name
    input: str = Field(max_length=65_536)
    reference: str = Field(max_length=65_536)
    operation: Literal["eq", "ne", "like", "ilike"]


class TextSimilarityGrader(BaseModel):
    """Scores the rendered ``input`` against ``reference`` by a similarity metric."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["text_similarity"]
    name: Name
    input: str = Field(max_length=65_536)
    reference: str = Field(max_length=65_536)
    evaluation_metric: Literal[METRICS]  # type: ignore[valid-type]
    pass_threshold: float = Field(ge=0, le=1)


class LabelModelGrader(BaseModel):
    """A model labels each item; the item passes with one of ``passing_labels``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"description": "passing_labels must be among labels."},
    )
    type: Literal["label_model"]
    name: Name
    model: str = Field(min_length=1, max_length=400)
    input: list[TemplateMessage] = Field(min_length=1, max_length=64)
    labels: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        min_length=1, max_length=64
    )
    passing_labels: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        min_length=1, max_length=64
    )
    sampling_params: GraderSampling | None = None
    """Workhorse extension: how the grader samples (a ``seed`` makes labels repeatable)."""

    @model_validator(mode="after")
    def _passing_among_labels(self) -> LabelModelGrader:
        unknown = [label for label in self.passing_labels if label not in self.labels]
        if unknown:
            raise ValueError(f"passing_labels {unknown} are not among labels")
        return self


class ScoreModelGrader(BaseModel):
    """A model scores each item with a number in ``range``."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["score_model"]
    name: Name
    model: str = Field(min_length=1, max_length=400)
    input: list[TemplateMessage] = Field(min_length=1, max_length=64)
    range: list[float] | None = Field(default=None, min_length=2, max_length=2)
    """``[low, high]``; 0 to 1 when absent."""
    pass_threshold: float | None = None
    """The lowest passing score; the middle of the range when absent."""
    sampling_params: GraderSampling | None = None

    @model_validator(mode="after")
    def _range_ordered(self) -> ScoreModelGrader:
        if self.range is not None and not self.range[0] < self.range[1]:
            raise ValueError("range is [low, high] with low below high")
        return self


Grader = Annotated[
    StringCheckGrader | TextSimilarityGrader | LabelModelGrader | ScoreModelGrader,
    Field(discriminator="type"),
]


class CustomDataSourceConfig(BaseModel):
    """Items of a given JSON schema; ``include_sample_schema`` when runs generate
    samples."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["custom"]
    item_schema: dict[str, Any]
    include_sample_schema: bool = False


class LogsDataSourceConfig(BaseModel):
    """Items from stored chat completions and responses with this metadata."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["logs", "stored_completions"]
    metadata: dict[str, Any] | None = None


DataSourceConfig = Annotated[
    CustomDataSourceConfig | LogsDataSourceConfig, Field(discriminator="type")
]


class EvalCreateRequest(BaseModel):
    """An eval: the shape of its items and the criteria its runs grade them by."""

    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    data_source_config: DataSourceConfig
    testing_criteria: list[Grader] = Field(min_length=1, max_length=32)
    metadata: MetadataMap | None = None

    @field_validator("testing_criteria")
    @classmethod
    def _names_unique(cls, criteria: list[Grader]) -> list[Grader]:
        names = [c.name for c in criteria]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"testing criteria names must be unique; repeated: {repeated}")
        return criteria


class EvalUpdateRequest(BaseModel):
    """A new name or metadata for an eval."""

    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    metadata: MetadataMap | None = None


class DataSourceConfigOut(BaseModel):
    """An eval's data source config, with the JSON schema of its ``item`` and
    ``sample`` namespaces."""

    type: Literal["custom", "logs", "stored_completions"]
    schema_: dict[str, Any] = Field(alias="schema", serialization_alias="schema")
    metadata: dict[str, Any] | None = None

    model_config = ConfigDict(populate_by_name=True)


class EvalObject(BaseModel):
    """An eval."""

    object: Literal["eval"] = "eval"
    id: str
    name: str
    created_at: int
    data_source_config: DataSourceConfigOut
    testing_criteria: list[Grader]
    metadata: dict[str, str]


class EvalList(BaseModel):
    object: Literal["list"] = "list"
    data: list[EvalObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class EvalListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    after: Cursor = None
    limit: int = Field(default=20, ge=1, le=100)
    order: Literal["asc", "desc"] = "asc"
    order_by: Literal["created_at", "updated_at"] = "created_at"


class EvalDeleted(BaseModel):
    object: Literal["eval.deleted"] = "eval.deleted"
    deleted: Literal[True] = True
    eval_id: str
