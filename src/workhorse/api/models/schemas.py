"""Wire shapes of ``/v1/models``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Model(BaseModel):
    """A model clients can name."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    """Every model."""

    object: Literal["list"] = "list"
    data: list[Model]


class ModelDeleted(BaseModel):
    """The answer to deleting a fine-tuned model."""

    id: str
    object: Literal["model"] = "model"
    deleted: bool = True
