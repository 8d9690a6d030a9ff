"""Schemathesis hooks for the contract run (loaded through ``SCHEMATHESIS_HOOKS``).

OpenAPI's ``xml`` objects say how lists are wrapped, but XML has no null and no standard
map or empty-value notation, and OpenAPI describes no nested form fields: the XML and form
serializers here write bodies exactly as docs/formats.md tells a client to, independently
of the server's code, so the fuzzer tests the written rules. JSON goes through
schemathesis's own serializer; multipart too, after one correction (below). Each
Idempotency-Key the fuzzer generates valid is made unique, since a key reused with
another body is rightly refused (422).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from typing import Any
from urllib.parse import urlencode

import schemathesis
from schemathesis.specs.openapi.schemas import OpenApiSchema
from schemathesis.transport import register_serializer
from schemathesis.transport.requests import multipart_serializer

JSON = "application/json"
_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
# What XML 1.0 cannot carry at all, even as a character reference.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return str(value)


def _escape(text: str) -> str:
    text = _NOT_XML.sub("", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # Parsers normalise a raw CR to LF, and tabs and newlines in attributes to spaces:
    # character references keep them.
    text = text.replace('"', "&quot;").replace("\r", "&#13;")
    return text.replace("\t", "&#9;").replace("\n", "&#10;")


def _element(tag: str, value: Any, attributes: str = "") -> str:
    if value is None:
        return f'<{tag}{attributes} nil="true"/>'
    if isinstance(value, list):
        items = "".join(_element("item", item) for item in value)
        return f'<{tag}{attributes} type="array">{items}</{tag}>'
    if isinstance(value, dict):
        if not value:
            return f'<{tag}{attributes} type="object"/>'
        children = "".join(
            _element(str(key), item)
            if _XML_NAME.match(str(key)) and key != "item"
            else _element("item", item, f' key="{_escape(str(key))}"')
            for key, item in value.items()
        )
        return f"<{tag}{attributes}>{children}</{tag}>"
    return f"<{tag}{attributes}>{_escape(_text(value))}</{tag}>"


def _xml_can_carry(value: Any) -> bool:
    if isinstance(value, str):
        return not _NOT_XML.search(value)
    if isinstance(value, list):
        return all(_xml_can_carry(item) for item in value)
    if isinstance(value, dict):
        return all(_xml_can_carry(k) and _xml_can_carry(v) for k, v in value.items())
    return True


FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
_SCALAR_TYPE_MUTATION = re.compile(
    r"violates `type`.*became (number|integer|boolean)\b", re.IGNORECASE
)
# The key the run calls with, and its project (set by the test): the run must not rotate,
# demote or revoke its own credentials halfway (the server allows a key to do so).
RUN_KEY_ID = os.environ.get("WORKHORSE_CONTRACT_KEY_ID", "")
RUN_PROJECT_ID = os.environ.get("WORKHORSE_CONTRACT_PROJECT_ID", "")


def _changes_the_run_key(case: Any) -> bool:
    if case.method.upper() == "GET":
        return False
    values = case.path_parameters or {}
    return values.get("key_id") == RUN_KEY_ID or values.get("project_id") == RUN_PROJECT_ID


def _negative(case: Any) -> bool:
    meta = getattr(case, "meta", None)
    return meta is not None and meta.generation.mode.value == "negative"


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    """Cases a format cannot carry as generated. XML 1.0 cannot hold most control
    characters or lone surrogates, even escaped (docs/formats.md: send such text as JSON).
    An empty value in a form or an XML element is read by the field's schema (an empty
    list where a string must not be empty), so an empty text there cannot be the wrong
    value it was meant as."""
    if _changes_the_run_key(case):
        return False
    xml = case.media_type in ("application/xml", "text/xml")
    if xml and not _xml_can_carry(case.body):
        return False
    if (xml or case.media_type in FORMS) and _negative(case) and isinstance(case.body, dict):
        return "" not in case.body.values() and not _scalar_for_text(case)
    return True


def _scalar_for_text(case: Any) -> bool:
    """A type violation that puts a number or a boolean where text (or null) belongs: in
    XML or a form it is written as the text that spells it, which is valid text, so the
    case cannot be the wrong value it was meant as (docs/formats.md, "How text is read")."""
    data = getattr(getattr(getattr(case, "meta", None), "phase", None), "data", None)
    if any(
        "type" in mutation.keywords and isinstance(mutation.new_value, int | float | bool)
        for mutation in getattr(data, "mutations", ())
    ):
        return True
    # A single mutation may be told only in the phase's description.
    return bool(_SCALAR_TYPE_MUTATION.search(getattr(data, "description", None) or ""))


@schemathesis.serializer("application/xml", "text/xml")
def xml_body(ctx: Any, value: Any) -> bytes:
    """A body under docs/formats.md's XML mapping: ``<item>`` lists, ``nil`` nulls."""
    return _element("request", value).encode()


def _bracket_safe(value: Any) -> bool:
    """Whether every map key inside can be written in bracket notation."""
    if isinstance(value, dict):
        return all(
            key and not key.isdigit() and "[" not in key and "]" not in key and _bracket_safe(v)
            for key, v in value.items()
        )
    if isinstance(value, list):
        return all(_bracket_safe(v) for v in value)
    return True


def _pairs(name: str, value: Any) -> list[tuple[str, str]]:
    if value is None:
        return [(name, "null")]
    if isinstance(value, list | dict) and not value:
        return [(name, "")]
    if isinstance(value, list):
        return [pair for i, item in enumerate(value) for pair in _pairs(f"{name}[{i}]", item)]
    if isinstance(value, dict):
        return [pair for key, item in value.items() for pair in _pairs(f"{name}[{key}]", item)]
    return [(name, _text(value))]


@schemathesis.serializer("application/x-www-form-urlencoded")
def form_body(ctx: Any, value: Any) -> bytes:
    """A body in bracket notation; a field whose map keys cannot be written so (empty, all
    digits, or holding a bracket) goes as one JSON text, as docs/formats.md allows."""
    if not isinstance(value, dict):
        return json.dumps(value).encode()
    pairs: list[tuple[str, str]] = []
    for name, field in value.items():
        if isinstance(field, list | dict) and field and not _bracket_safe(field):
            pairs.append((name, json.dumps(field)))
        else:
            pairs.extend(_pairs(name, field))
    return urlencode(pairs).encode()


_prepare_request_body = OpenApiSchema.prepare_request_body


def _form_as_generated(self: OpenApiSchema, case: Any) -> Any:
    # schemathesis writes each form field as a query parameter first (style form), which
    # flattens nested fields; the bracket notation above needs the body as generated.
    if case.media_type and case.media_type.startswith("application/x-www-form-urlencoded"):
        return case.body
    return _prepare_request_body(self, case)


OpenApiSchema.prepare_request_body = _form_as_generated  # type: ignore[method-assign]


def multipart_body(ctx: Any, value: Any) -> dict[str, Any]:
    """schemathesis's multipart, with strings (and lists of them) in parts declared
    ``application/json`` written as one JSON part (it sends them raw, which is not JSON)."""
    body = ctx.case.operation.get_body_for_media_type(ctx.case.media_type)
    encoding = body.definition.get("encoding", {}) if body is not None else {}
    as_json = {name for name, part in encoding.items() if part.get("contentType") == JSON}
    if isinstance(value, dict):
        value = {
            name: _json_strings(field) if name in as_json else field
            for name, field in value.items()
        }
    result: dict[str, Any] = multipart_serializer(ctx, value)
    return result


def _json_strings(field: Any) -> Any:
    # A string or a list of strings would go raw (one part per item): one JSON part instead.
    if isinstance(field, str) or (
        isinstance(field, list) and all(isinstance(i, str) for i in field)
    ):
        return json.dumps(field)
    return field


register_serializer(multipart_body, "multipart/form-data")

_VALID_KEY = re.compile(r"^[!-~]([ -~]*[!-~])?$")


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """A fresh Idempotency-Key for every call that has a valid one."""
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and _VALID_KEY.match(key) and len(key) <= 255:
        case.headers["Idempotency-Key"] = uuid.uuid4().hex


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but one false alarm: ST302 ("created resource not found") on a
    404 that names a field of the body, not of the path. Adding a file to a vector store
    just created is 404 when the *file* does not exist ("No file found with id …", as
    OpenAI answers); the store is there."""
    if getattr(failure, "code", None) != "ST302":
        return True
    try:
        param = response.json()["error"]["param"]
    except (ValueError, KeyError, TypeError):
        return True
    return param in (case.path_parameters or {})
