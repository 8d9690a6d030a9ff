"""Wire shapes of ``/v1/feedback``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workhorse.api.shared import Cursor, MetadataMap, when

SubjectType = Literal["response", "chat_completion", "message", "conversation_item"]
Tag = Annotated[str, Field(min_length=1, max_length=64)]
Score = Annotated[float, Field(ge=1, le=5)]
"""A numeric rating's declared range: 1 (worst) to 5 (best)."""


class Subject(BaseModel):
    """What is rated: a response, a stored chat completion, a stored Anthropic message
    (``store: true`` on ``/v1/messages``), or a conversation's item (which names its
    conversation)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=when(
            "type",
            "conversation_item",
            {
                "required": ["conversation_id"],
                "properties": {"conversation_id": {"type": "string"}},
            },
        ),
    )
    type: SubjectType
    id: str = Field(min_length=1, max_length=128)
    conversation_id: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _conversation_named(self) -> Subject:
        if self.type == "conversation_item" and self.conversation_id is None:
            raise ValueError("a conversation_item subject names its conversation_id")
        return self


class FeedbackCreateRequest(BaseModel):
    """A rating of one answer; rating the same subject again keeps the history and the
    newest counts."""

    model_config = ConfigDict(extra="forbid")
    subject: Subject
    rating: Literal["up", "down"] | Score
    """Thumbs, or a score from 1 (worst) to 5 (best)."""
    comment: str | None = Field(default=None, max_length=4096)
    tags: list[Tag] = Field(default_factory=list, max_length=16)
    correction: str | None = Field(default=None, max_length=32768)
    """The answer it should have been (the reference when it becomes an eval item)."""
    metadata: MetadataMap | None = None


class FeedbackObject(BaseModel):
    """One rating."""

    object: Literal["feedback"] = "feedback"
    id: str
    created_at: int
    subject: Subject
    model: str | None
    rating: Literal["up", "down"] | float
    comment: str | None
    tags: list[str]
    correction: str | None
    metadata: dict[str, str]
    latest: bool
    """Whether this is its subject's newest rating (the one that counts)."""


class FeedbackList(BaseModel):
    object: Literal["list"] = "list"
    data: list[FeedbackObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class FeedbackDeleted(BaseModel):
    object: Literal["feedback.deleted"] = "feedback.deleted"
    id: str
    deleted: bool = True


class FeedbackQuery(BaseModel):
    """Filters of the list and the export."""

    subject_type: SubjectType | None = None
    subject_id: str | None = Field(default=None, max_length=128)
    rating: Literal["up", "down", "score"] | None = None
    model: str | None = Field(default=None, max_length=256)
    tag: list[Tag] = Field(default_factory=list, max_length=16)
    since: int | None = Field(default=None, ge=0, le=2**40, description="Unix seconds")
    until: int | None = Field(default=None, ge=0, le=2**40, description="Unix seconds")
    history: bool = False
    """Every rating, not only each subject's newest."""


class FeedbackListQuery(FeedbackQuery):
    after: Cursor = None
    limit: int = Field(default=20, ge=1, le=100)


class FeedbackDatasetRequest(FeedbackQuery):
    """Make an eval dataset of ratings: a file of ``purpose: evals``, one ``{"item": ...}``
    line per rating with its input, the rated output and the correction as reference."""

    model_config = ConfigDict(extra="forbid")
    filename: str = Field(default="feedback.jsonl", min_length=1, max_length=255)
    corrected_only: bool = False
    """Only ratings that carry a correction (a reference answer)."""
