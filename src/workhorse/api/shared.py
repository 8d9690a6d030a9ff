"""Wire shapes shared by several APIs."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

MetadataMap = Annotated[dict[str, Annotated[str, Field(max_length=512)]], Field(max_length=16)]
"""OpenAI's ``metadata``: at most 16 pairs, values of at most 512 characters."""
