"""Wire shapes shared by several APIs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

MetadataMap = Annotated[
    dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=512)]],
    Field(max_length=16),
]
"""OpenAI's ``metadata``: at most 16 pairs, keys of at most 64 characters, values of at
most 512."""


def _blank_is_none(value: object) -> object:
    return None if value == "" else value


Cursor = Annotated[str | None, BeforeValidator(_blank_is_none)]
"""A list's ``after`` cursor: an id, or empty or absent for the start of the list
(``?after=`` is what a form or a generated client sends for "no cursor")."""


def when(
    field: str, value: object, then: dict[str, Any], otherwise: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A JSON Schema rule: where ``field`` is ``value``, ``then`` holds (else ``otherwise``),
    for the document to state a cross-field check a model's validator makes."""
    rule: dict[str, Any] = {
        "if": {"properties": {field: {"const": value}}, "required": [field]},
        "then": then,
    }
    if otherwise is not None:
        rule["else"] = otherwise
    return rule


def rules(*checks: dict[str, Any]) -> dict[str, Any]:
    """``json_schema_extra`` for a model whose validator makes ``checks``."""
    return {"allOf": list(checks)} if len(checks) > 1 else dict(checks[0])


Includable = Literal[
    "code_interpreter_call.outputs",
    "computer_call_output.output.image_url",
    "file_search_call.results",
    "message.input_image.image_url",
    "message.output_text.logprobs",
    "reasoning.encrypted_content",
    "web_search_call.action.sources",
]
"""OpenAI's ``include`` values: what a response or an item list may add to its output."""
