"""Wire shapes shared by several APIs."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field

MetadataMap = Annotated[dict[str, Annotated[str, Field(max_length=512)]], Field(max_length=16)]
"""OpenAI's ``metadata``: at most 16 pairs, values of at most 512 characters."""


def _blank_is_none(value: object) -> object:
    return None if value == "" else value


Cursor = Annotated[str | None, BeforeValidator(_blank_is_none)]
"""A list's ``after`` cursor: an id, or empty or absent for the start of the list
(``?after=`` is what a form or a generated client sends for "no cursor")."""
