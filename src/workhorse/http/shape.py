"""Body values read by the operation's JSON Schema, before the model validates them.

Form, multipart and XML bodies carry text only; the schema says what each field can be.
Where the schema leaves one reading, a text is read so (docs/formats.md):

- a text the field may hold as a string stays that string (``null`` too, in a free-text
  field; an enum takes only its own words, and a string of at least one character no
  empty text);
- otherwise ``null`` is null where the field is nullable;
- otherwise an empty value is an empty object or list where the field is one
  (``<metadata/>``, ``tools=``);
- in forms and multipart (OpenAPI's ``style: form, explode: true``): a field given more
  than once is a list where the field is a list (``file_ids=a&file_ids=b``), and refused
  otherwise (a list of one is ``file_ids[]=a``); a top-level field that is an object or a
  list may be one JSON text (``metadata={"team":"blue"}``);
- a multipart part sent as ``application/json`` is its field's whole value, as JSON;
- a boolean or number field takes ``true`` / ``false`` or a JSON number, nothing else;
- no text holds U+0000 or a lone surrogate, which the databases cannot store.

In every format, JSON included, a boolean is refused where the field is a number (the
model would take ``true`` as 1), and JSON values keep their types: a string where the
field is a number or a boolean is refused, as a number where it is a boolean. Nothing is
guessed: a text a field could hold as a string is never read as anything else.
"""

from __future__ import annotations

import enum
import json
import re
from typing import Any

from workhorse.errors import InvalidRequest
from workhorse.http.forms import Repeated
from workhorse.http.jsonbody import parse_json
from workhorse.http.multipart import JsonValue

Schema = dict[str, Any]
_ANY = "any"
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


class Reading(enum.Enum):
    """How a body's values arrived."""

    TYPED = "typed"  # JSON: values have their types already
    XML = "xml"  # text, with the XML mapping's structure
    FORM = "form"  # text in bracket notation (urlencoded and multipart)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(text: str, path: str) -> None:
    """Refuse what no database here can store: U+0000 (PostgreSQL's text cannot hold
    it) and lone surrogates (not UTF-8), alike in both modes."""
    found = _UNSTORABLE.search(text)
    if found is not None:
        raise InvalidRequest(
            f"Invalid value for '{path}': U+{ord(found.group()):04X} at character "
            f"{found.start()} cannot be stored",
            param=path,
            code="invalid_value",
        )


class Shaper:
    """Reads the values of one operation's body by its JSON Schema."""

    def __init__(self, schema: Schema) -> None:
        self._root = schema
        self._defs: dict[str, Schema] = schema.get("$defs", {})

    def shape(self, fields: dict[str, Any], reading: Reading) -> dict[str, Any]:
        """``fields`` with each value read as the schema allows."""
        return self._object(fields, self._alternatives(self._root), "", reading, top=True)

    def _resolve(self, schema: Schema) -> Schema:
        for _ in range(32):
            if "$ref" not in schema:
                break
            schema = self._defs.get(str(schema["$ref"]).rsplit("/", 1)[-1], {})
        return schema

    def _alternatives(self, schema: Schema) -> list[Schema]:
        schema = self._resolve(schema)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return [alt for option in schema[key] for alt in self._alternatives(option)]
        if "allOf" in schema and len(schema["allOf"]) == 1:
            return self._alternatives(schema["allOf"][0])
        return [schema]

    @staticmethod
    def _types(schema: Schema) -> set[str]:
        declared = schema.get("type")
        if isinstance(declared, str):
            return {"number" if declared == "integer" else declared}
        if isinstance(declared, list):
            return {"number" if t == "integer" else str(t) for t in declared}
        if "const" in schema:
            return {_json_type(schema["const"])}
        if "enum" in schema:
            return {_json_type(v) for v in schema["enum"]}
        if "properties" in schema or "additionalProperties" in schema:
            return {"object"}
        if "items" in schema:
            return {"array"}
        return {_ANY}

    def _value(self, value: Any, schema: Schema, path: str, reading: Reading) -> Any:
        alternatives = self._alternatives(schema)
        types = set().union(*(self._types(alt) for alt in alternatives))
        if isinstance(value, JsonValue):  # a part holding its field's whole value
            return self._value(value.value, schema, path, Reading.TYPED)
        if isinstance(value, Repeated):
            if "array" not in types and _ANY not in types:
                raise InvalidRequest(f"field {path!r} is given more than once", param=path)
            return self._list(value.values, alternatives, path, reading)
        if isinstance(value, bool):
            if not types & {"boolean", _ANY} and "number" in types:
                raise InvalidRequest(
                    f"Invalid value for '{path}': a number is expected, not a boolean",
                    param=path,
                    code="invalid_value",
                )
            return value
        if isinstance(value, dict):
            return self._object(value, alternatives, path, reading, top=False)
        if isinstance(value, list):
            return self._list(value, alternatives, path, reading)
        if isinstance(value, str):
            _storable(value, path)
        if reading is Reading.TYPED and value is not None and not types & {_ANY, _json_type(value)}:
            # JSON is typed: the model would take "true" or 1 for a boolean, "5" for a number.
            raise InvalidRequest(
                f"Invalid value for '{path}': {_json_type(value)} is not a valid type here",
                param=path,
                code="invalid_value",
            )
        if reading is Reading.TYPED or not isinstance(value, str):
            return value
        return self._text(value, alternatives, types, path, reading)

    def _object(
        self,
        value: dict[str, Any],
        alternatives: list[Schema],
        path: str,
        reading: Reading,
        *,
        top: bool,
    ) -> dict[str, Any]:
        objects = [a for a in alternatives if self._types(a) & {"object", _ANY}]
        shaped: dict[str, Any] = {}
        for key, item in value.items():
            field = f"{path}.{key}" if path else key
            _storable(key, field)
            member = self._member(objects, key)
            if top and reading is Reading.FORM and isinstance(item, str):
                item = self._json_text(item, member, field)
            shaped[key] = self._value(item, member, field, reading)
        return shaped

    def _list(
        self, values: list[Any], alternatives: list[Schema], path: str, reading: Reading
    ) -> list[Any]:
        items = [
            a["items"]
            for a in alternatives
            if isinstance(a.get("items"), dict) and self._types(a) & {"array"}
        ]
        of = {"anyOf": items} if items else {}
        return [self._value(item, of, f"{path}[{i}]", reading) for i, item in enumerate(values)]

    def _json_text(self, text: str, schema: Schema, path: str) -> Any:
        """A top-level form field given as one JSON text, where it can only be that."""
        alternatives = self._alternatives(schema)
        types = set().union(*(self._types(alt) for alt in alternatives))
        if text[:1] not in ("{", "[") or not types & {"object", "array"}:
            return text
        if self._holds_string(text, alternatives):
            return text
        try:
            return JsonValue(parse_json(text.encode()))
        except InvalidRequest as exc:
            raise InvalidRequest(f"field {path!r}: {exc.message}", param=path) from exc

    @staticmethod
    def _member(objects: list[Schema], key: str) -> Schema:
        """The schema of ``key`` in any of the ``objects`` (``{}`` where free)."""
        options: list[Schema] = []
        for schema in objects:
            properties = schema.get("properties", {})
            extra = schema.get("additionalProperties", True)
            if key in properties:
                options.append(properties[key])
            elif isinstance(extra, dict):
                options.append(extra)
            elif extra is True:
                return {}
        return {"anyOf": options} if options else {}

    def _holds_string(self, text: str, alternatives: list[Schema]) -> bool:
        """Whether some alternative takes ``text`` as a valid string."""
        return any(self._string_fits(text, alt) for alt in alternatives)

    def _string_fits(self, text: str, schema: Schema) -> bool:
        types = self._types(schema)
        if _ANY in types:
            return True
        if "string" not in types:
            return False
        if "enum" in schema:
            return text in schema["enum"]
        if "const" in schema:
            return bool(text == schema["const"])
        if len(text) < schema.get("minLength", 0):
            return False
        if len(text) > schema.get("maxLength", len(text)):
            return False
        pattern = schema.get("pattern")
        return pattern is None or re.search(pattern, text) is not None

    def _text(
        self,
        value: str,
        alternatives: list[Schema],
        types: set[str],
        path: str,
        reading: Reading,
    ) -> Any:
        if self._holds_string(value, alternatives):
            return value
        if value == "null" and "null" in types:
            return None
        if value == "":
            if "object" in types:
                return {}
            if "array" in types:
                return []
        if "boolean" in types and value in ("true", "false"):
            return value == "true"
        if "number" in types and _NUMBER.fullmatch(value):
            return json.loads(value)
        if types <= {"boolean", "number", "null"}:
            # As JSON would: true, false or a JSON number, not "yes", "1.0e" or " 5".
            raise InvalidRequest(
                f"Invalid value for '{path}': {value[:40]!r} is not a valid "
                + " or ".join(sorted(types - {"null"})),
                param=path,
                code="invalid_value",
            )
        return value
