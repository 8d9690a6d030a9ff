"""Wire shapes of ``/v1/files`` (OpenAI's Files API)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Base64Bytes, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from workhorse.api.shared import Cursor
from workhorse.http.multipart import UploadedFile

Purpose = Literal["assistants", "batch", "fine-tune", "vision", "user_data", "evals"]


BASE64 = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
"""Standard base64, padded, nothing else (no line breaks, no URL-safe alphabet)."""


def _strict_base64(value: object) -> object:
    if isinstance(value, str) and not re.fullmatch(BASE64, value):
        raise ValueError("must be standard base64 (A-Z a-z 0-9 + /, padded with =)")
    return value


StrictBase64 = Annotated[
    Base64Bytes, BeforeValidator(_strict_base64), Field(json_schema_extra={"pattern": BASE64})
]
"""Bytes sent as base64 text, refused unless the whole text is base64."""


class FileCreateRequest(BaseModel):
    """A file upload: a ``file`` part (multipart/form-data), or, in any body format, the
    bytes as base64 ``content`` with a ``filename``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["file"],
                    "properties": {"content": {"type": "null"}},
                },
                {
                    "required": ["content", "filename"],
                    "properties": {
                        "content": {"type": "string"},
                        "filename": {"type": "string"},
                        "file": {"type": "null"},
                    },
                },
            ]
        },
    )

    file: UploadedFile | None = None
    content: StrictBase64 | None = None
    filename: str | None = Field(default=None, min_length=1, max_length=512)
    purpose: Purpose

    @model_validator(mode="after")
    def _one_source(self) -> FileCreateRequest:
        if (self.file is None) == (self.content is None):
            raise ValueError(
                "send the bytes either as a 'file' part (multipart/form-data) or as base64 "
                "'content' with a 'filename'"
            )
        if self.content is not None and self.filename is None:
            raise ValueError("'filename' is required with 'content'")
        return self


class FileCreateInline(BaseModel):
    """A file upload with its bytes inline, base64-encoded (for SOAP, where a body has no
    file parts)."""

    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=512)
    content: Base64Bytes
    purpose: Purpose


class FileObject(BaseModel):
    """A stored file."""

    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: Literal["processed"] = "processed"
    expires_at: int | None = None
    status_details: str | None = None


class FileList(BaseModel):
    """A page of files."""

    object: Literal["list"] = "list"
    data: list[FileObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class FileDeleted(BaseModel):
    """The answer to a delete."""

    id: str
    object: Literal["file"] = "file"
    deleted: bool = True


class FileListQuery(BaseModel):
    """Query parameters of ``GET /v1/files``."""

    purpose: Purpose | None = None
    limit: int = Field(default=10_000, ge=1, le=10_000)
    after: Cursor = None
    order: Literal["asc", "desc"] = "desc"
