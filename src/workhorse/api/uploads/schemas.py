"""Wire shapes of ``/v1/uploads`` (OpenAI's Uploads API)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from workhorse.api.files.schemas import FileObject, Purpose
from workhorse.http.multipart import UploadedFile

MAX_UPLOAD_BYTES = 8 * 1024**3
"""An upload's declared size may not exceed the Files API's cap."""
MAX_PART_BYTES = 64 * 1024**2
"""The largest part, as OpenAI's (and the SDK's default part size)."""
MAX_PARTS = 10_000
"""Most part ids one complete may list."""

UploadStatus = Literal["pending", "completed", "cancelled", "expired"]


class UploadCreateRequest(BaseModel):
    """A new upload: the file's name, purpose, MIME type and exact size."""

    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=4096)
    purpose: Purpose
    bytes: int = Field(ge=0, le=MAX_UPLOAD_BYTES)
    mime_type: str = Field(min_length=1, max_length=255)


class UploadPartRequest(BaseModel):
    """One part: a ``data`` file part of a multipart/form-data body."""

    model_config = ConfigDict(extra="forbid")

    data: UploadedFile


class UploadCompleteRequest(BaseModel):
    """The parts, in the order their bytes make the file, and optionally the file's MD5."""

    model_config = ConfigDict(extra="forbid")

    part_ids: list[str] = Field(max_length=MAX_PARTS)
    md5: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{32}$")


class UploadObject(BaseModel):
    """An upload; ``file`` is the created File once completed."""

    id: str
    object: Literal["upload"] = "upload"
    bytes: int
    created_at: int
    expires_at: int
    filename: str
    purpose: str
    status: UploadStatus
    file: FileObject | None = None


class UploadPartObject(BaseModel):
    """A received part."""

    id: str
    object: Literal["upload.part"] = "upload.part"
    created_at: int
    upload_id: str
