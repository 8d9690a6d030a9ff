"""Wire shapes of ``/v1/organization/usage/*`` (OpenAI's Usage API)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class CompletionsResult(BaseModel):
    """Completions usage of one group in one bucket."""

    object: Literal["organization.usage.completions.result"] = (
        "organization.usage.completions.result"
    )
    input_tokens: int
    output_tokens: int
    input_cached_tokens: int = 0
    input_audio_tokens: int = 0
    output_audio_tokens: int = 0
    num_model_requests: int
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None
    batch: bool | None = None


class EmbeddingsResult(BaseModel):
    """Embeddings usage of one group in one bucket."""

    object: Literal["organization.usage.embeddings.result"] = "organization.usage.embeddings.result"
    input_tokens: int
    num_model_requests: int
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None


class CompletionsBucket(BaseModel):
    object: Literal["bucket"] = "bucket"
    start_time: int
    end_time: int
    results: list[CompletionsResult]


class EmbeddingsBucket(BaseModel):
    object: Literal["bucket"] = "bucket"
    start_time: int
    end_time: int
    results: list[EmbeddingsResult]


class CompletionsPage(BaseModel):
    object: Literal["page"] = "page"
    data: list[CompletionsBucket]
    has_more: bool
    next_page: str | None


class EmbeddingsPage(BaseModel):
    object: Literal["page"] = "page"
    data: list[EmbeddingsBucket]
    has_more: bool
    next_page: str | None
