"""Wire shapes of ``/v1/fine_tuning/jobs`` (OpenAI's fine-tuning API)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from workhorse.api.shared import Cursor, MetadataMap

Auto = Literal["auto"]


class Hyperparameters(BaseModel):
    """Training settings; ``auto`` lets the job choose from the training set's size."""

    model_config = ConfigDict(extra="forbid")
    n_epochs: Auto | int = "auto"
    batch_size: Auto | int = "auto"
    learning_rate_multiplier: Auto | float = "auto"

    @field_validator("n_epochs", "batch_size", "learning_rate_multiplier")
    @classmethod
    def _in_range(cls, value: Auto | float, info: ValidationInfo) -> Auto | float:
        if value == "auto":
            return value
        low, high = RANGES[info.field_name or ""]
        if not low < value <= high:
            raise ValueError(f"must be 'auto' or more than {low} and at most {high}")
        return value


RANGES = {"n_epochs": (0, 50), "batch_size": (0, 256), "learning_rate_multiplier": (0, 10)}
"""Exclusive low and inclusive high bound of each hyperparameter."""


class SupervisedMethod(BaseModel):
    """Settings of supervised fine-tuning."""

    model_config = ConfigDict(extra="forbid")
    hyperparameters: Hyperparameters | None = None


class Method(BaseModel):
    """The training method; only ``supervised`` is offered."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["supervised", "dpo", "reinforcement"]
    supervised: SupervisedMethod | None = None
    dpo: dict[str, Any] | None = None
    reinforcement: dict[str, Any] | None = None


class FineTuningJobCreateRequest(BaseModel):
    """``POST /v1/fine_tuning/jobs``."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, max_length=256)
    training_file: str = Field(min_length=1, max_length=40)
    validation_file: str | None = Field(default=None, min_length=1, max_length=40)
    hyperparameters: Hyperparameters | None = None
    suffix: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$"
    )
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    method: Method | None = None
    metadata: MetadataMap | None = None
    integrations: list[dict[str, Any]] | None = None

    @model_validator(mode="after")
    def _one_place_for_hyperparameters(self) -> FineTuningJobCreateRequest:
        inner = self.method.supervised if self.method is not None else None
        if self.hyperparameters is not None and inner is not None and inner.hyperparameters:
            raise ValueError("give hyperparameters either at the top level or in method, not both")
        return self

    def resolved_hyperparameters(self) -> Hyperparameters:
        """The hyperparameters, wherever they were given."""
        inner = self.method.supervised if self.method is not None else None
        if inner is not None and inner.hyperparameters is not None:
            return inner.hyperparameters
        return self.hyperparameters or Hyperparameters()


class JobError(BaseModel):
    """Why a job failed."""

    code: str
    message: str
    param: str | None = None


class JobHyperparameters(BaseModel):
    """The job's hyperparameters (``auto`` until the files are validated)."""

    n_epochs: Auto | int
    batch_size: Auto | int
    learning_rate_multiplier: Auto | float


class JobSupervised(BaseModel):
    hyperparameters: JobHyperparameters


class JobMethod(BaseModel):
    type: Literal["supervised"] = "supervised"
    supervised: JobSupervised


class FineTuningJobObject(BaseModel):
    """A fine-tuning job."""

    id: str
    object: Literal["fine_tuning.job"] = "fine_tuning.job"
    created_at: int
    error: JobError | None
    fine_tuned_model: str | None
    finished_at: int | None
    hyperparameters: JobHyperparameters
    model: str
    organization_id: str
    result_files: list[str] = []
    seed: int
    status: Literal[
        "validating_files", "queued", "running", "paused", "succeeded", "failed", "cancelled"
    ]
    trained_tokens: int | None
    training_file: str
    validation_file: str | None
    integrations: list[dict[str, Any]] | None = None
    estimated_finish: int | None = None
    method: JobMethod
    metadata: dict[str, str] | None
    user_provided_suffix: str | None


class FineTuningJobList(BaseModel):
    object: Literal["list"] = "list"
    data: list[FineTuningJobObject]
    has_more: bool


class FineTuningJobEvent(BaseModel):
    """A line of a job's log; ``metrics`` events carry a step's figures in ``data``."""

    id: str
    object: Literal["fine_tuning.job.event"] = "fine_tuning.job.event"
    created_at: int
    level: Literal["info", "warn", "error"]
    message: str
    data: dict[str, Any] | None = None
    type: Literal["message", "metrics"]


class FineTuningJobEventList(BaseModel):
    object: Literal["list"] = "list"
    data: list[FineTuningJobEvent]
    has_more: bool


class CheckpointMetrics(BaseModel):
    step: float
    train_loss: float | None = None
    train_mean_token_accuracy: float | None = None
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = None
    full_valid_loss: float | None = None
    full_valid_mean_token_accuracy: float | None = None


class FineTuningJobCheckpoint(BaseModel):
    """The adapter at the end of an epoch, usable as a model."""

    id: str
    object: Literal["fine_tuning.job.checkpoint"] = "fine_tuning.job.checkpoint"
    created_at: int
    fine_tuned_model_checkpoint: str
    fine_tuning_job_id: str
    metrics: CheckpointMetrics
    step_number: int


class FineTuningJobCheckpointList(BaseModel):
    object: Literal["list"] = "list"
    data: list[FineTuningJobCheckpoint]
    first_id: str | None
    last_id: str | None
    has_more: bool


class PageQuery(BaseModel):
    """Pagination of lists (newest first)."""

    model_config = ConfigDict(extra="forbid")
    after: Cursor = None
    limit: int = Field(default=20, ge=1, le=100)
